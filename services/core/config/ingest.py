"""Settings of the ingest service: log sources, collectors, programs, targets."""

from __future__ import annotations

import msgspec

from services.core.config.metrics import CollectorSettings
from services.core.config.programs import ProgramsSettings
from services.core.config.targets import TargetsSettings


class SourceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One watched folder: which files, how to parse them, how to watch and batch."""

    name: str = "work"
    path: str = "./data/watch"
    # Globs match the file name, or the path relative to the folder when they hold a "/".
    include: list[str] = msgspec.field(default_factory=lambda: ["*작업이벤트로그*.csv"])
    exclude: list[str] = []
    recursive: bool = True
    parser: str = "work"  # work | csv | jsonl | regex
    regex: str = ""  # for parser = "regex": named groups become fields; "ts" is the timestamp
    # Network and synced folders: OS events are unreliable there, so poll instead.
    force_polling: bool = False
    poll_interval_ms: int = 300
    # watchfiles waits this long for more changes before it reports (its default is 50 ms).
    watch_step_ms: int = 5
    # A full rescan catches anything the watcher missed (new subfolders, odd file systems).
    rescan_interval_s: float = 30.0
    batch_max_records: int = 5000
    batch_max_bytes: int = 4_000_000
    # Wait this long after a change before reading, so bursts of appends share a batch.
    batch_linger_ms: int = 0
    max_line_bytes: int = 1_000_000


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Collect and publish."""

    sources: list[SourceSettings] = msgspec.field(default_factory=lambda: [SourceSettings()])
    # How often file-ingest counters go out as a MetricBatch (vigil.metric.<host>.ingest).
    file_metrics_interval_s: float = 10.0
    # Backfill progress: events on NATS this often; a log line this often without a TTY.
    progress_interval_s: float = 0.5
    progress_log_interval_s: float = 5.0
    targets: TargetsSettings = TargetsSettings()
    programs: ProgramsSettings = ProgramsSettings()
    collectors: CollectorSettings = CollectorSettings()
