"""SSE events as the hub holds them, subscription filters, and stream positions (SSE ids)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from services.core.streams import StreamSpec
from services.gateway.sse_rows import ROWS_FAMILY, rows_data


def short(stream: str) -> str:
    return stream.removeprefix("VIGIL_")


def family_of(subject: str) -> str:
    tokens = subject.split(".")
    return tokens[1] if len(tokens) > 1 else ""


@dataclass(frozen=True)
class HubEvent:
    """One event as it goes to SSE clients; ``stream``/``seq`` are empty for unstored ones."""

    family: str
    subject: str
    data: str
    stream: str = ""
    seq: int = 0
    # For a stored WorkBatch: its ``rows`` summary, sent with the same id (one queue item).
    rows: HubEvent | None = None

    @cached_property
    def frame_tail(self) -> bytes:
        """``event:`` and ``data:`` lines, encoded once and shared by every client."""
        lines = self.data.replace("\r", "").split("\n")
        body = "".join(f"data: {line}\n" for line in lines)
        return f"event: {self.family}\n{body}\n".encode()


def stored_event(subject: str, payload: bytes, stream: str, seq: int) -> HubEvent:
    """A stored message as a hub event; a WorkBatch also gets its ``rows`` summary."""
    family = family_of(subject)
    rows = None
    if family == "work":
        text = rows_data(payload, subject, seq)
        if text is not None:
            rows = HubEvent(ROWS_FAMILY, subject, text, stream, seq)
    return HubEvent(family, subject, payload.decode("utf-8", "replace"), stream, seq, rows)


@dataclass(frozen=True)
class ClientFilter:
    """What one SSE subscription wants: subject families, targets, severities (empty = all)."""

    families: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def wants(self, event: HubEvent) -> bool:
        if event.family == ROWS_FAMILY:
            # Derived: only for clients that name it (an unfiltered client gets ``work``).
            if ROWS_FAMILY not in self.families:
                return False
        elif self.families and event.family not in self.families:
            return False
        tokens = event.subject.split(".")
        if (
            self.severities
            and event.family == "alert"
            and (len(tokens) < 3 or tokens[2] not in self.severities)
        ):
            return False
        return not (self.targets and not (set(tokens[2:]) & self.targets))

    def patterns(self, spec: StreamSpec) -> list[str]:
        """The subjects of ``spec`` this filter can want (none: skip the stream)."""
        if not self.families:
            return list(spec.subjects)
        families = self.families | {"work"} if ROWS_FAMILY in self.families else self.families
        return [p for p in spec.subjects if family_of(p) in families]

    def parts(self, event: HubEvent) -> tuple[HubEvent, ...]:
        """What this client gets of one stored item: the event, its ``rows`` summary, both."""
        if event.rows is None:
            return (event,) if self.wants(event) else ()
        return tuple(e for e in (event, event.rows) if self.wants(e))

    def frames(self, event: HubEvent) -> tuple[bytes, bytes] | None:
        """The encoded frames this filter wants of ``event``: (all but the last, the last).

        Split so a writer can put the ``id:`` line on the last frame; None: not wanted.
        """
        parts = self.parts(event)
        if not parts:
            return None
        return b"".join(p.frame_tail for p in parts[:-1]), parts[-1].frame_tail


def parse_position(text: str) -> dict[str, int]:
    """``KPI:12,ALERT:3`` → {"KPI": 12, "ALERT": 3}; junk is ignored (then no resume)."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, seq = part.strip().partition(":")
        if name and seq.isdigit() and len(out) < 32:
            out[name[:32]] = int(seq)
    return out


def format_position(position: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(position.items()))
