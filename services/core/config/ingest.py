"""Settings of the ingest service: log sources, collectors, programs, targets."""

from __future__ import annotations

import msgspec


class SourceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One watched folder."""

    name: str = "work"
    path: str = "./data/watch"
    include: list[str] = msgspec.field(default_factory=lambda: ["*작업이벤트로그*.csv"])
    exclude: list[str] = []
    recursive: bool = True
    parser: str = "work"  # work | csv | jsonl | regex
    regex: str = ""
    force_polling: bool = False
    poll_interval_ms: int = 300
    batch_max_records: int = 5000
    batch_max_bytes: int = 4_000_000
    max_line_bytes: int = 1_000_000


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Collect and publish."""

    sources: list[SourceSettings] = msgspec.field(default_factory=lambda: [SourceSettings()])
