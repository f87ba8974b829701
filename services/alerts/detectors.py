"""Event, security, absence and consecutive-failure rules: the rule kinds beyond thresholds."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from services.alerts.alert import fingerprint
from services.alerts.model import Rule

if TYPE_CHECKING:
    from services.alerts.engine import AlertEngine

# Which field of an event names "what failed" for consecutive-failure rules.
_STREAK_KEY = {"target": "target_id", "program_exited": "program_id"}


def _field_matches(actual: Any, wanted: Any) -> bool:
    if actual == wanted:
        return True
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return str(actual).lower() == str(wanted).lower()
    return str(actual) == str(wanted)


def event_matches(rule: Rule, fields: dict[str, Any]) -> bool:
    for key, wanted in rule.match.items():
        if not _field_matches(fields.get(key), wanted):
            return False
    for key, pattern in rule.regex.items():
        if pattern.search(str(fields.get(key, ""))) is None:
            return False
    return True


class EventDetectors:
    """Counts matching events, watches for silence and for streaks of failures."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.by_source: dict[str, list[Rule]] = {}
        self.counts: dict[tuple[str, str], deque[float]] = {}
        self.streaks: dict[tuple[str, str], int] = {}
        # absence: (rule, key) -> (last seen, labels)
        self.last_seen: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self.absence_rules: list[Rule] = []

    def set_rules(self, rules: list[Rule], now: float) -> None:
        self.by_source = {}
        self.absence_rules = []
        for rule in rules:
            if rule.kind in ("event", "security") or (
                rule.kind == "consecutive" and rule.source != "metric"
            ):
                self.by_source.setdefault(rule.source, []).append(rule)
            elif rule.kind == "absence":
                self.absence_rules.append(rule)
                for key in rule.expect:
                    # Expected sources count from start-up: silence since then is an absence.
                    self.last_seen.setdefault(
                        (rule.name, key), (now, self._absence_labels(rule, key))
                    )

    @staticmethod
    def _absence_labels(rule: Rule, key: str) -> dict[str, str]:
        label = {"work": "process", "log": "source"}.get(rule.source, "series")
        return {**rule.labels, label: key}

    # ------------------------------------------------------------ events

    def observe(self, source: str, fields: dict[str, Any], ts: float, now: float) -> None:
        for rule in self.by_source.get(source, []):
            if rule.kind == "consecutive":
                self._event_streak(rule, fields, now)
            elif event_matches(rule, fields):
                self._count(rule, fields, ts, now)
        if source in ("work", "log"):
            key = str(fields.get("process" if source == "work" else "source", ""))
            self._seen(source, key, now)

    def _count(self, rule: Rule, fields: dict[str, Any], ts: float, now: float) -> None:
        labels = {**rule.labels, **{b: str(fields.get(b, "")) for b in rule.by}}
        fp = fingerprint(rule.name, labels)
        times = self.counts.setdefault((rule.name, fp), deque())
        times.append(min(ts, now))
        while times and times[0] < now - rule.window_s:
            times.popleft()
        if len(times) >= rule.threshold:
            self.engine.apply(rule, fp, labels, True, float(len(times)), now)

    def _event_streak(self, rule: Rule, fields: dict[str, Any], now: float) -> None:
        key_field = _STREAK_KEY.get(rule.source, "")
        failed = (
            fields.get("status") == "down"
            if rule.source == "target"
            else not bool(fields.get("expected", True))
        )
        labels = {**rule.labels, key_field: str(fields.get(key_field, ""))}
        self._streak(rule, labels, failed, now)

    def metric_streak(
        self, rule: Rule, labels: dict[str, str], name: str, value: float, now: float
    ) -> None:
        assert rule.condition is not None
        self._streak(
            rule, {**rule.labels, **labels, "metric": name}, rule.condition.holds(value), now
        )

    def _streak(self, rule: Rule, labels: dict[str, str], failed: bool, now: float) -> None:
        fp = fingerprint(rule.name, labels)
        streak = self.streaks.get((rule.name, fp), 0) + 1 if failed else 0
        self.streaks[(rule.name, fp)] = streak
        self.engine.apply(rule, fp, labels, streak >= rule.count, float(streak), now)

    # ------------------------------------------------------------ absence

    def saw_metric(self, name: str, labels: dict[str, str], ts: float) -> None:
        for rule in self.absence_rules:
            if rule.source == "metric" and rule.selector and rule.selector.matches(name, labels):
                key = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or name
                self._record(
                    rule, key, {**rule.labels, **labels, "metric": name}, self.engine.clock()
                )

    def _seen(self, source: str, key: str, now: float) -> None:
        for rule in self.absence_rules:
            if rule.source == source and key:
                self._record(rule, key, self._absence_labels(rule, key), now)

    def _record(self, rule: Rule, key: str, labels: dict[str, str], now: float) -> None:
        self.last_seen[(rule.name, key)] = (now, labels)
        fp = fingerprint(rule.name, labels)
        if fp in self.engine.alerts:
            self.engine.apply(rule, fp, labels, False, 0.0, now)

    def tick(self, now: float) -> None:
        rules = {r.name: r for r in self.absence_rules}
        for (rule_name, _key), (seen, labels) in list(self.last_seen.items()):
            rule = rules.get(rule_name)
            if rule is None:
                continue
            since = seen
            if rule.working_hours is not None:
                local = time.localtime(now)
                minute = local.tm_hour * 60 + local.tm_min
                if not rule.working_hours.contains(local.tm_wday, minute):
                    continue
                # Silence before today's working hours began does not count.
                day_start = now - (minute * 60 + local.tm_sec) + rule.working_hours.start_min * 60
                since = max(seen, day_start)
            fp = fingerprint(rule.name, labels)
            if now - since >= rule.for_s:
                self.engine.apply(rule, fp, labels, True, round(now - seen, 1), now, for_s=0.0)
        # Event alerts end after a quiet period without matching events.
        for alert in list(self.engine.alerts.values()):
            rule = self.engine.rules.get(alert.rule)
            if (
                rule is not None
                and rule.kind in ("event", "security")
                and now - alert.last_event_at >= rule.resolve_after_s
            ):
                self.engine.apply(rule, alert.fingerprint, alert.labels, False, 0.0, now)
