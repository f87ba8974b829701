"""Vigil's public event contract: one msgspec Struct per event, subject builders beside them.

Every event is a frozen, keyword-only Struct tagged by its ``schema`` field
(``"vigil.<name>/<version>"``). New fields always get defaults so that older
consumers keep decoding newer payloads. docs/EVENTS.md documents each subject and
is checked against this module by tests/test_events_doc.py.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import msgspec

JsonScalar = str | int | float | bool | None
T = TypeVar("T")

_TOKEN_BAD = re.compile(r"[^A-Za-z0-9_\-]")


def token(value: str) -> str:
    """Make ``value`` safe as one NATS subject token (ASCII, no dots, wildcards or spaces)."""
    cleaned = _TOKEN_BAD.sub("_", value.strip())
    return cleaned or "_"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="schema"):
    """Base of every event; the tag (``schema``) names type and version."""


# ---------------------------------------------------------------- files and logs


class FileChanged(Event, frozen=True, kw_only=True, tag="vigil.file_changed/1"):
    """A watched file was added, modified, deleted or rotated."""

    source: str
    path: str
    kind: Literal["added", "modified", "deleted", "rotated"]
    size: int = 0
    file_id: str = ""
    host: str = ""
    ts: float = 0.0


class LogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One parsed line of a generic log (CSV, JSON Lines or regex)."""

    line: int
    fields: dict[str, Any]
    ts: str | None = None


class LogBatch(Event, frozen=True, kw_only=True, tag="vigil.log_batch/1"):
    """The records of one read of one file, with the file identity and byte range."""

    source: str
    host: str = ""
    path: str
    file_id: str
    start: int
    end: int
    parser: str = "csv"
    records: list[LogRecord]


# gc=False: a backfill decodes a million of these, and untracked they cost the cyclic GC
# nothing (they hold JSON values only, so they cannot be part of a reference cycle).
class WorkEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One row of a work-event log (DESIGN §3). ``ts`` is local time, ISO 8601, no zone."""

    line: int
    ts: str
    worker: str
    process: str
    event: str
    details: dict[str, Any] = {}
    offset: int = 0


class WorkBatch(Event, frozen=True, kw_only=True, tag="vigil.work_batch/1"):
    """The work events of one read of one file, with the file identity and byte range."""

    source: str
    host: str = ""
    path: str
    file_id: str
    start: int
    end: int
    process: str
    worker: str = ""
    events: list[WorkEvent]


class ParseError(Event, frozen=True, kw_only=True, tag="vigil.parse_error/1"):
    """A line that could not be parsed; the rest of the file keeps flowing."""

    source: str
    path: str
    line: int
    reason: str
    raw: str = ""
    host: str = ""
    ts: float = 0.0


class IngestProgress(Event, frozen=True, kw_only=True, tag="vigil.ingest_progress/1"):
    """Backfill progress of one source."""

    source: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    done: bool = False
    host: str = ""
    ts: float = 0.0


# ---------------------------------------------------------------- metrics


class MetricSample(msgspec.Struct, frozen=True, kw_only=True):
    """One value of one series (name + labels)."""

    name: str
    value: float
    labels: dict[str, str] = {}


class MetricBatch(Event, frozen=True, kw_only=True, tag="vigil.metric_batch/1"):
    """Samples of one collector run on one host, all taken at ``ts`` (Unix seconds)."""

    host: str
    group: str
    ts: float
    samples: list[MetricSample]


# ---------------------------------------------------------------- programs

ProgramState = Literal[
    "starting", "running", "stopping", "stopped", "exited", "crashed", "failed", "unknown"
]


class ProgramStatus(Event, frozen=True, kw_only=True, tag="vigil.program_status/1"):
    """Current state and resource use of one supervised or matched program."""

    program_id: str
    host: str = ""
    state: ProgramState
    pid: int | None = None
    cpu_percent: float = 0.0
    rss_mb: float = 0.0
    threads: int = 0
    uptime_s: float = 0.0
    restart_count: int = 0
    last_exit_code: int | None = None
    reason: str = ""
    ts: float = 0.0


class ProgramExited(Event, frozen=True, kw_only=True, tag="vigil.program_exited/1"):
    """A program's process ended; ``expected`` is false for a crash or an unasked exit."""

    program_id: str
    host: str = ""
    pid: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    expected: bool
    reason: str = ""
    ts: float = 0.0


class ProgramCommandReply(Event, frozen=True, kw_only=True, tag="vigil.program_command_reply/1"):
    """Reply to a start/stop/restart command."""

    program_id: str
    action: str
    result: Literal["done", "already", "failed", "unknown_program"]
    detail: str = ""
    state: str = ""


# ---------------------------------------------------------------- analytics, alerts, audit


class KpiUpdate(Event, frozen=True, kw_only=True, tag="vigil.kpi_update/1"):
    """The KPIs of a process changed; ``values`` holds today's new numbers."""

    process: str
    changed: list[str] = []
    values: dict[str, float] = {}
    sessions_added: int = 0
    ts: float = 0.0
    # WorkBatches (reads of a file) the analyzer has yet to store when this update was made:
    # above 0 while it catches up with a backlog (a first start on old logs, a restart).
    backlog: int = 0


AlertState = Literal["pending", "firing", "resolved", "acknowledged", "silenced", "flapping"]
Severity = Literal["info", "warning", "error", "critical"]


class AlertEvent(Event, frozen=True, kw_only=True, tag="vigil.alert/1"):
    """A state transition of one alert (one fingerprint of one rule)."""

    fingerprint: str
    rule: str
    severity: Severity
    state: AlertState
    value: float | None = None
    labels: dict[str, str] = {}
    summary: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    ts: float = 0.0
    by: str = ""


class TargetStatus(Event, frozen=True, kw_only=True, tag="vigil.target_status/1"):
    """Result of one check of a monitored target (HTTP, model API, n8n, database)."""

    target_id: str
    kind: str
    status: Literal["up", "down", "degraded", "unknown"]
    response_ms: float | None = None
    detail: str = ""
    host: str = ""
    ts: float = 0.0


class AuditEvent(Event, frozen=True, kw_only=True, tag="vigil.audit/1"):
    """Something a user or API key did at the gateway (login, change, command)."""

    actor: str
    action: str
    target: str = ""
    ok: bool = True
    remote: str = ""
    detail: str = ""
    ts: float = 0.0


class DeadLetter(Event, frozen=True, kw_only=True, tag="vigil.dead_letter/1"):
    """A message a consumer could not handle, kept for inspection instead of lost."""

    service: str
    subject: str
    reason: str
    payload: str = ""
    ts: float = 0.0


class ServiceHealth(Event, frozen=True, kw_only=True, tag="vigil.service_health/1"):
    """Reply to a health query."""

    service: str
    ok: bool
    pid: int
    uptime_s: float
    detail: dict[str, Any] = {}


AnyEvent = (
    FileChanged
    | LogBatch
    | WorkBatch
    | ParseError
    | IngestProgress
    | MetricBatch
    | ProgramStatus
    | ProgramExited
    | ProgramCommandReply
    | KpiUpdate
    | AlertEvent
    | TargetStatus
    | AuditEvent
    | DeadLetter
    | ServiceHealth
)

EVENT_TYPES: tuple[type[Event], ...] = (
    FileChanged,
    LogBatch,
    WorkBatch,
    ParseError,
    IngestProgress,
    MetricBatch,
    ProgramStatus,
    ProgramExited,
    ProgramCommandReply,
    KpiUpdate,
    AlertEvent,
    TargetStatus,
    AuditEvent,
    DeadLetter,
    ServiceHealth,
)


def schema_tag(event_type: type[Event]) -> str:
    """The ``schema`` tag of an event type, e.g. ``vigil.work_batch/1``."""
    tag = event_type.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


# ---------------------------------------------------------------- subjects

PREFIX = "vigil"


def fs_changed(source: str) -> str:
    return f"{PREFIX}.fs.{token(source)}.changed"


def log(source: str) -> str:
    return f"{PREFIX}.log.{token(source)}"


def work(process: str) -> str:
    return f"{PREFIX}.work.{token(process)}"


def parse_error(source: str) -> str:
    return f"{PREFIX}.error.parse.{token(source)}"


def ingest_progress(source: str) -> str:
    return f"{PREFIX}.progress.{token(source)}"


def metric(host: str, group: str) -> str:
    return f"{PREFIX}.metric.{token(host)}.{token(group)}"


def program_status(program_id: str) -> str:
    return f"{PREFIX}.program.{token(program_id)}.status"


def program_exited(program_id: str) -> str:
    return f"{PREFIX}.program.{token(program_id)}.exited"


def program_cmd(program_id: str, action: str) -> str:
    return f"{PREFIX}.cmd.program.{token(program_id)}.{token(action)}"


def kpi(process: str) -> str:
    return f"{PREFIX}.kpi.{token(process)}"


def alert(severity: str, rule: str) -> str:
    return f"{PREFIX}.alert.{token(severity)}.{token(rule)}"


def target_status(target_id: str) -> str:
    return f"{PREFIX}.target.{token(target_id)}.status"


def audit(action: str) -> str:
    return f"{PREFIX}.audit.{token(action)}"


def dead_letter(service: str) -> str:
    return f"{PREFIX}.dlq.{token(service)}"


def api(service: str, method: str) -> str:
    return f"{PREFIX}.api.{token(service)}.{token(method)}"


# Subject patterns per event type, as documented in docs/EVENTS.md.
SUBJECTS: dict[type[Event], str] = {
    FileChanged: "vigil.fs.<source>.changed",
    LogBatch: "vigil.log.<source>",
    WorkBatch: "vigil.work.<process>",
    ParseError: "vigil.error.parse.<source>",
    IngestProgress: "vigil.progress.<source>",
    MetricBatch: "vigil.metric.<host>.<group>",
    ProgramStatus: "vigil.program.<id>.status",
    ProgramExited: "vigil.program.<id>.exited",
    ProgramCommandReply: "vigil.cmd.program.<id>.<action>",
    KpiUpdate: "vigil.kpi.<process>",
    AlertEvent: "vigil.alert.<severity>.<rule>",
    TargetStatus: "vigil.target.<id>.status",
    AuditEvent: "vigil.audit.<action>",
    DeadLetter: "vigil.dlq.<service>",
    ServiceHealth: "vigil.api.<service>.health",
}


# ---------------------------------------------------------------- codec


class Codec:
    """One encoder/decoder pair per process; decode at the edge into typed structs."""

    def __init__(self) -> None:
        self.encoder = msgspec.json.Encoder()
        self._any = msgspec.json.Decoder(AnyEvent)
        self._typed: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    def encode(self, event: msgspec.Struct) -> bytes:
        return self.encoder.encode(event)

    def decode(self, data: bytes) -> AnyEvent:
        """Decode any Vigil event by its ``schema`` tag; raises msgspec.DecodeError."""
        return self._any.decode(data)

    def decode_as(self, data: bytes, kind: type[T]) -> T:
        decoder = self._typed.get(kind)
        if decoder is None:
            decoder = self._typed[kind] = msgspec.json.Decoder(kind)
        result: T = decoder.decode(data)
        return result


def json_schema(event_type: type[Event] | None = None) -> dict[str, Any]:
    """JSON Schema of one event type, or of all of them."""
    if event_type is not None:
        return msgspec.json.schema(event_type)
    _, components = msgspec.json.schema_components(EVENT_TYPES)
    return {"$defs": components}
