"""Alert-fatigue controls: silences, inhibition, flap detection and notification grouping."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from services.alerts.model import SEVERITY_RANK, Silence

# Labels that must be equal for a critical alert to mute a warning one ("the same target").
INHIBIT_EQUAL = ("target", "program", "program_id", "process", "mount", "host", "cpu", "metric")


def find_silence(silences: list[Silence], labels: dict[str, str], now: float) -> Silence | None:
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None


def inhibited_by(
    severity: str,
    labels: dict[str, str],
    firing: list[tuple[str, str, dict[str, str]]],
    fingerprint: str,
) -> str | None:
    """The fingerprint of a firing critical alert on the same target, which mutes this one."""
    if SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK["critical"]:
        return None
    for other_fp, other_severity, other_labels in firing:
        if other_fp == fingerprint or other_severity != "critical":
            continue
        if all(labels.get(k) == other_labels.get(k) for k in INHIBIT_EQUAL):
            return other_fp
    return None


@dataclass
class FlapDetector:
    """Too many state changes of one fingerprint inside ``window_s`` means it is flapping."""

    window_s: float = 600.0
    threshold: int = 6
    changes: dict[str, deque[float]] = field(default_factory=dict)

    def record(self, fingerprint: str, now: float) -> bool:
        """Record a change; True when the fingerprint now counts as flapping."""
        times = self.changes.setdefault(fingerprint, deque())
        times.append(now)
        self._trim(times, now)
        return len(times) >= self.threshold

    def calm(self, fingerprint: str, now: float) -> bool:
        """True when no change happened within the window (flapping may end)."""
        times = self.changes.get(fingerprint)
        if not times:
            return True
        return now - times[-1] >= self.window_s

    def forget(self, fingerprint: str) -> None:
        self.changes.pop(fingerprint, None)

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] < now - self.window_s:
            times.popleft()


@dataclass
class Notice:
    """One notification for one receiver: several alerts grouped together."""

    receiver: str
    kind: str  # firing | resolved | repeat | escalation | flapping
    group_key: str
    alerts: list[dict[str, Any]]
    created_at: float
    # Stable id of this notification (outbox row): a receiver drops a repeat after a crash.
    delivery_id: str = ""


@dataclass
class _Group:
    first_at: float
    alerts: dict[str, dict[str, Any]]


class Grouper:
    """Collect alerts by receiver, kind and group labels; release each group after ``wait_s``."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self.groups: dict[tuple[str, str, str], _Group] = {}

    def add(
        self, receiver: str, kind: str, group_by: tuple[str, ...], alert: dict[str, Any], now: float
    ) -> None:
        labels = {"rule": alert["rule"], "severity": alert["severity"], **alert["labels"]}
        key = ",".join(f"{k}={labels.get(k, '')}" for k in group_by)
        group = self.groups.get((receiver, kind, key))
        if group is None:
            group = self.groups[(receiver, kind, key)] = _Group(now, {})
        # The newest state of a fingerprint replaces an older one in the same group.
        group.alerts[alert["fingerprint"]] = alert

    def due(self, now: float) -> list[Notice]:
        ready: list[Notice] = []
        for key, group in list(self.groups.items()):
            if now - group.first_at >= self.wait_s:
                receiver, kind, group_key = key
                ready.append(Notice(receiver, kind, group_key, list(group.alerts.values()), now))
                del self.groups[key]
        return ready
