"""One alert (a fingerprint of a rule) and the transitions between its states."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from services.core import contracts

ACTIVE_STATES = ("pending", "firing", "acknowledged")


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """Stable id of one alert: the rule name plus its labels."""
    blob = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass
class Alert:
    """The live state of one fingerprint."""

    fingerprint: str
    rule: str
    severity: str
    labels: dict[str, str]
    state: str = "inactive"
    value: float | None = None
    summary: str = ""
    started_at: float = 0.0
    fired_at: float | None = None
    ended_at: float | None = None
    last_true_at: float = 0.0
    last_event_at: float = 0.0
    notified: bool = False
    notify_pending: str = ""  # "", "firing" or "repeat"
    acked_by: str = ""
    acked_at: float | None = None
    escalated: bool = False
    silenced_by: str = ""
    inhibited_by: str = ""
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Alert:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in known})

    def event(self, state: str, ts: float, by: str = "") -> contracts.AlertEvent:
        return contracts.AlertEvent(
            fingerprint=self.fingerprint,
            rule=self.rule,
            severity=self.severity,  # type: ignore[arg-type]
            state=state,  # type: ignore[arg-type]
            value=self.value,
            labels=self.labels,
            summary=self.summary,
            started_at=self.fired_at or self.started_at,
            ended_at=self.ended_at,
            ts=ts,
            by=by,
        )


@dataclass
class Transition:
    """A change of state (or a note such as an escalation) to store and, maybe, publish."""

    alert: Alert
    from_state: str
    to_state: str
    ts: float
    by: str = ""
    note: str = ""
    publish: bool = True
    snapshot: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Freeze the alert as it was at this moment: later changes must not rewrite history.
        self.snapshot = self.alert.to_dict()
