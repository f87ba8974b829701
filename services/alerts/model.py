"""Plain data of the alerts service: rules, receivers, silences (built by rules.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from services.alerts.condition import Condition, Selector

RuleKind = Literal["metric", "kpi", "event", "security", "absence", "consecutive"]
EventSource = Literal["program_exited", "log", "work", "parse_error", "audit", "target"]
SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """When absence rules apply: weekdays plus a local start/end time (minutes of the day)."""

    days: frozenset[int] = frozenset(range(5))
    start_min: int = 8 * 60
    end_min: int = 18 * 60

    def contains(self, weekday: int, minute_of_day: int) -> bool:
        return weekday in self.days and self.start_min <= minute_of_day < self.end_min


@dataclass(frozen=True)
class Rule:
    """One validated alert rule."""

    name: str
    kind: RuleKind
    severity: str = "warning"
    enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    notify: tuple[str, ...] = ()
    for_s: float = 0.0
    keep_firing_s: float = 0.0
    # Hysteresis: once firing, resolve only when the value no longer holds against ``clear``.
    clear: float | None = None
    repeat_s: float | None = None
    group_by: tuple[str, ...] = ("rule",)
    escalate_after_s: float = 0.0
    escalate_to: tuple[str, ...] = ()
    # metric / kpi / consecutive-on-metric
    condition: Condition | None = None
    # event / security / absence / consecutive
    source: str = ""
    match: dict[str, Any] = field(default_factory=dict)
    regex: dict[str, re.Pattern[str]] = field(default_factory=dict)
    threshold: int = 1
    window_s: float = 300.0
    by: tuple[str, ...] = ()
    resolve_after_s: float = 300.0
    # absence
    selector: Selector | None = None
    expect: tuple[str, ...] = ()
    working_hours: WorkingHours | None = None
    # consecutive
    count: int = 5
    file: str = ""
    line: int = 0
    origin: str = "user"  # "default" for the shipped defaults.yaml


@dataclass(frozen=True)
class ReceiverConfig:
    """Where notifications go: webhook (HMAC-signed), Slack-compatible webhook or e-mail."""

    name: str
    kind: Literal["webhook", "slack", "email"]
    urls: tuple[str, ...] = ()
    secret: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    sender: str = "vigil@localhost"
    to: tuple[str, ...] = ()
    send_resolved: bool = True
    file: str = ""
    line: int = 0


@dataclass
class Silence:
    """Mute notifications of alerts whose labels match, between ``starts_at`` and ``ends_at``."""

    id: str
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str = ""
    reason: str = ""
    created_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        for key, wanted in self.matchers.items():
            actual = labels.get(key, "")
            if wanted.startswith("~"):
                # "~regex" matches by regular expression; plain values match exactly.
                try:
                    if re.fullmatch(wanted[1:], actual) is None:
                        return False
                except re.error:
                    return False
            elif actual != wanted:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": self.matchers,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "reason": self.reason,
            "created_at": self.created_at,
        }
