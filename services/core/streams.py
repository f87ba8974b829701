"""JetStream streams: names, subjects and limits (documented in docs/EVENTS.md)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

DAY = 86_400.0


@dataclass(frozen=True)
class StreamSpec:
    """One durable stream Vigil creates or updates at start."""

    name: str
    subjects: tuple[str, ...]
    max_age_s: float
    max_bytes: int
    duplicate_window_s: float = 600.0
    description: str = ""

    def config(self, replicas: int = 1) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            description=self.description,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_s,
            # Unlimited by default: reserving bytes up front fails on small disks,
            # and discarding by size would lose work events. Age bounds the store.
            max_bytes=self.max_bytes if self.max_bytes > 0 else -1,
            duplicate_window=self.duplicate_window_s,
            num_replicas=replicas,
        )


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        "VIGIL_WORK",
        ("vigil.work.>",),
        max_age_s=400 * DAY,
        max_bytes=-1,
        description="Work-event batches; the analyzer's source of truth",
    ),
    StreamSpec("VIGIL_LOG", ("vigil.log.>",), 30 * DAY, -1, description="Generic log batches"),
    StreamSpec(
        "VIGIL_FILES",
        ("vigil.fs.>", "vigil.error.>", "vigil.progress.>"),
        7 * DAY,
        -1,
        description="File changes, parse errors, backfill progress",
    ),
    StreamSpec("VIGIL_METRIC", ("vigil.metric.>",), 2 * DAY, -1, 120.0, "Metric sample batches"),
    StreamSpec(
        "VIGIL_PROGRAM", ("vigil.program.>",), 7 * DAY, -1, description="Program status/exits"
    ),
    StreamSpec(
        "VIGIL_TARGET", ("vigil.target.>",), 7 * DAY, -1, description="Target check results"
    ),
    StreamSpec("VIGIL_KPI", ("vigil.kpi.>",), 7 * DAY, -1, description="KPI updates"),
    StreamSpec("VIGIL_ALERT", ("vigil.alert.>",), 90 * DAY, -1, description="Alert events"),
    StreamSpec("VIGIL_AUDIT", ("vigil.audit.>",), 365 * DAY, -1, description="Audit events"),
    StreamSpec("VIGIL_DLQ", ("vigil.dlq.>",), 30 * DAY, -1, description="Dead letters"),
)


def stream_for(subject: str) -> StreamSpec | None:
    """The stream that stores ``subject`` (None for request/reply and command subjects)."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec
    return None
