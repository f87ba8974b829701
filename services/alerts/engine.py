"""The rule engine: windows per series, the pending → firing → resolved machine, fatigue controls.

Pure and synchronous: callers feed samples and events, call ``tick()`` now and then, and
``drain()`` the transitions (to store and publish) and notices (to deliver). Time comes from
an injected clock so tests control it without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from services.alerts.alert import Alert, Transition
from services.alerts.condition import OPERATORS
from services.alerts.detectors import EventDetectors
from services.alerts.fatigue import FlapDetector, Grouper, Notice, find_silence, inhibited_by
from services.alerts.index import EngineOptions, RuleIndex, Series, SeriesKey
from services.alerts.model import Rule, Silence
from services.alerts.windows import STALE_S, SeriesWindow
from services.core.contracts import MetricSample

Clock = Callable[[], float]


class AlertEngine:
    """Evaluates every rule kind and decides what to notify."""

    def __init__(self, rules: list[Rule], options: EngineOptions, clock: Clock = time.time) -> None:
        self.clock = clock
        self.options = options
        self.alerts: dict[str, Alert] = {}
        self.last_notified: dict[str, float] = {}
        self.flapping: dict[str, float] = {}
        self.resolved_by_hand: set[str] = set()
        self._pending: set[str] = set()  # fingerprints with a notification waiting
        self.silences: list[Silence] = []
        self.series: dict[SeriesKey, Series] = {}
        self._batch_keys: dict[tuple[str, str, tuple[tuple[str, str], ...]], Series] = {}
        self.flap = FlapDetector(options.flap_window_s, options.flap_threshold)
        self.grouper = Grouper(options.group_wait_s)
        self.transitions: list[Transition] = []
        self.notices: list[Notice] = []
        self.samples_seen = 0
        self.samples_dropped = 0
        self.samples_late = 0
        # Newest evaluated sample time per watched series: restored at start, and the ones
        # that moved since the last drain go to the store with the transitions they caused.
        self.marks: dict[SeriesKey, float] = {}
        self._dirty_marks: dict[SeriesKey, float] = {}
        self.rules: dict[str, Rule] = {}
        self.detectors = EventDetectors(self)
        self.set_rules(rules)

    # ------------------------------------------------------------ rules

    def set_rules(self, rules: list[Rule]) -> None:
        """Swap the rule set (hot reload); alerts of removed or disabled rules resolve."""
        self.rules = {r.name: r for r in rules if r.enabled}
        self.index = RuleIndex(list(self.rules.values()))
        for series in self.series.values():
            self._bind_series(series)
        self.detectors.set_rules(list(self.rules.values()), self.clock())
        now = self.clock()
        for alert in list(self.alerts.values()):
            if alert.rule not in self.rules:
                self._resolve(alert, now, by="system", note="rule removed or disabled")

    def _bind_series(self, series: Series) -> None:
        self.index.bind(series)

    # ------------------------------------------------------------ inputs

    def observe_sample(self, name: str, labels: dict[str, str], value: float, ts: float) -> None:
        """One metric sample: update its window and evaluate the rules over it now."""
        key = (name, tuple(sorted(labels.items())))
        series = self.series.get(key) or self._new_series(key, name, dict(labels))
        now = max(self.clock(), ts)
        self._observe(series, value, ts, now)
        self._dispatch(now)

    def observe_batch(self, host: str, ts: float, samples: Iterable[MetricSample]) -> None:
        """The samples of one MetricBatch (each gets a ``host`` label unless it has one)."""
        now = max(self.clock(), ts)
        cache = self._batch_keys
        for sample in samples:
            # Keyed without copying the labels: the hot path of the service.
            bkey = (host, sample.name, tuple(sorted(sample.labels.items())))
            series = cache.get(bkey)
            if series is None:
                labels = {**sample.labels}
                labels.setdefault("host", host)
                key = (sample.name, tuple(sorted(labels.items())))
                series = self.series.get(key) or self._new_series(key, sample.name, labels)
                cache[bkey] = series
            self._observe(series, sample.value, ts, now)
        self._dispatch(now)

    def _new_series(self, key: SeriesKey, name: str, labels: dict[str, str]) -> Series:
        series = self.series[key] = Series(name, labels, SeriesWindow(0.0), key=key)
        series.last_ts = self.marks.get(key, series.last_ts)
        self._bind_series(series)
        return series

    def _observe(self, series: Series, value: float, ts: float, now: float) -> None:
        self.samples_seen += 1
        if not math.isfinite(value) or not math.isfinite(ts):
            # NaN/inf would poison the window's running sum; such a sample is no evidence.
            self.samples_dropped += 1
            return
        if self.detectors.absence_rules:
            self.detectors.saw_metric(series.name, series.labels, ts)
        if not series.rules:
            return
        if ts < series.last_ts:
            # Older than a sample already evaluated: a redelivery after a crash (whose
            # transitions are already stored) or a late host; evaluating it would replay them.
            self.samples_late += 1
            return
        if ts > series.last_ts:
            series.last_ts = self._dirty_marks[series.key] = ts
        series.window.add(ts, value)
        for rule in series.rules:
            if rule.kind == "consecutive":
                self.detectors.metric_streak(rule, series.labels, series.name, value, now)
            else:
                self._evaluate(rule, series, now)

    def observe_event(self, source: str, fields: dict[str, Any], ts: float | None = None) -> None:
        """One event (program exit, work or log record, parse error, audit, target check)."""
        now = self.clock()
        self.detectors.observe(source, fields, ts or now, now)
        self._dispatch(now)

    def _evaluate(self, rule: Rule, series: Series, now: float) -> None:
        cond = rule.condition
        assert cond is not None
        value = series.window.reduce(cond.reducer, cond.window_s, now)
        labels, fp = series.identity[rule.name]
        holds = value is not None and cond.holds(value)
        alert = self.alerts.get(fp)
        if (
            not holds
            and value is not None
            and rule.clear is not None
            and alert is not None
            and alert.state in ("firing", "acknowledged")
        ):
            # Hysteresis: a firing alert stays until the value is past the clear level.
            holds = OPERATORS[cond.op](value, rule.clear)
        self.apply(rule, fp, labels, holds, value, now)

    # ------------------------------------------------------------ state machine

    def apply(
        self,
        rule: Rule,
        fp: str,
        labels: dict[str, str],
        holds: bool,
        value: float | None,
        now: float,
        for_s: float | None = None,
    ) -> None:
        """Move one fingerprint according to whether its condition holds now."""
        hold_for = rule.for_s if for_s is None else for_s
        alert = self.alerts.get(fp)
        if holds and fp in self.resolved_by_hand:
            return  # a person resolved it: wait until the condition clears once
        self.resolved_by_hand.discard(fp)
        if holds:
            if alert is None:
                alert = Alert(
                    fp, rule.name, rule.severity, labels, value=value, summary=rule.summary,
                    started_at=now, last_true_at=now, last_event_at=now,
                )  # fmt: skip
                self.alerts[fp] = alert
                if hold_for <= 0:
                    self._fire(alert, now)
                else:
                    self._transition(alert, "pending", now)
                return
            alert.value = value
            alert.last_true_at = now
            alert.last_event_at = now
            if alert.state == "pending" and now - alert.started_at >= hold_for:
                self._fire(alert, now)
            return
        if alert is None:
            return
        alert.value = value
        if alert.state == "pending":
            self._resolve(alert, now, note="cleared before 'for' elapsed")
        elif now - alert.last_true_at >= rule.keep_firing_s:
            self._resolve(alert, now)

    def _transition(
        self, alert: Alert, state: str, now: float, by: str = "", note: str = ""
    ) -> None:
        old = alert.state
        alert.state = state
        alert.updated_at = now
        self.transitions.append(Transition(alert, old, state, now, by, note))
        if state in ("firing", "resolved") and alert.fired_at is not None:
            fp = alert.fingerprint
            if fp not in self.flapping and self.flap.record(fp, now):
                self.flapping[fp] = now
                self.transitions.append(Transition(alert, state, "flapping", now, "system"))
                self._notify(alert, "flapping", now)

    def _fire(self, alert: Alert, now: float) -> None:
        alert.fired_at = now
        alert.ended_at = None
        self._want(alert, "firing")
        self._transition(alert, "firing", now)

    def _resolve(self, alert: Alert, now: float, by: str = "", note: str = "") -> None:
        alert.ended_at = now
        alert.notify_pending = ""
        self._transition(alert, "resolved", now, by, note)
        self.alerts.pop(alert.fingerprint, None)
        if alert.notified and alert.fingerprint not in self.flapping and not alert.silenced_by:
            self._notify(alert, "resolved", now)

    # ------------------------------------------------------------ notifications

    def receivers_of(self, rule_name: str) -> tuple[str, ...]:
        rule = self.rules.get(rule_name)
        return (rule.notify if rule and rule.notify else ()) or self.options.default_notify

    def _notify(self, alert: Alert, kind: str, now: float, to: tuple[str, ...] = ()) -> None:
        rule = self.rules.get(alert.rule)
        group_by = rule.group_by if rule else ("rule",)
        snapshot = alert.to_dict()
        for receiver in to or self.receivers_of(alert.rule):
            self.grouper.add(receiver, kind, group_by, snapshot, now)

    def _want(self, alert: Alert, kind: str) -> None:
        alert.notify_pending = kind
        self._pending.add(alert.fingerprint)

    def _dispatch(self, now: float) -> None:
        """Send what waits to be sent, unless silenced, inhibited, flapping or deduplicated."""
        if self._pending:
            self._dispatch_pending(now)
        if self.grouper.groups:
            self.notices.extend(self.grouper.due(now))

    def _dispatch_pending(self, now: float) -> None:
        firing = [
            (a.fingerprint, a.severity, a.labels)
            for a in self.alerts.values()
            if a.state == "firing"
        ]
        for fp in list(self._pending):
            alert = self.alerts.get(fp)
            kind = alert.notify_pending if alert is not None else ""
            if alert is None or not kind:
                self._pending.discard(fp)
                continue
            if alert.fingerprint in self.flapping:
                alert.notify_pending = ""
                self._pending.discard(fp)
                continue
            # Silences may match the rule name and severity as well as the labels.
            scope = {"rule": alert.rule, "severity": alert.severity, **alert.labels}
            silence = find_silence(self.silences, scope, now)
            alert.silenced_by = silence.id if silence else ""
            alert.inhibited_by = (
                inhibited_by(alert.severity, alert.labels, firing, alert.fingerprint) or ""
            )
            if alert.silenced_by or alert.inhibited_by:
                continue  # kept pending: it goes out if the silence ends first
            alert.notify_pending = ""
            self._pending.discard(fp)
            last = self.last_notified.get(alert.fingerprint)
            rule = self.rules.get(alert.rule)
            repeat = rule.repeat_s if rule and rule.repeat_s else self.options.repeat_s
            if kind == "firing" and last is not None and now - last < repeat:
                alert.notified = True  # deduplicated: this fingerprint was notified recently
                continue
            self.last_notified[alert.fingerprint] = now
            alert.notified = True
            self._notify(alert, kind, now)

    # ------------------------------------------------------------ time

    def tick(self) -> None:
        """Time-based transitions: 'for', keep-firing, stale windows, absence, repeats,
        escalation, end of flapping, silences that ended, group waits."""
        now = self.clock()
        for series in self.series.values():
            for rule in series.rules:
                if rule.kind != "consecutive":
                    self._evaluate(rule, series, now)
        self.detectors.tick(now)
        self._resolve_orphans(now)
        for fp, since in list(self.flapping.items()):
            if self.flap.calm(fp, now) and now - since >= self.flap.window_s:
                del self.flapping[fp]
                alert = self.alerts.get(fp)
                if alert is not None and alert.state == "firing":
                    self._want(alert, "firing")
        for alert in list(self.alerts.values()):
            found = self.rules.get(alert.rule)
            if found is None or alert.state != "firing" or alert.silenced_by or alert.inhibited_by:
                continue
            rule = found
            repeat = rule.repeat_s or self.options.repeat_s
            last = self.last_notified.get(alert.fingerprint)
            if (
                alert.notified
                and last is not None
                and now - last >= repeat
                and not alert.notify_pending
            ):
                self._want(alert, "repeat")
            if (
                rule.escalate_to
                and not alert.escalated
                and alert.fired_at is not None
                and now - alert.fired_at >= rule.escalate_after_s
                and alert.fingerprint not in self.flapping
            ):
                alert.escalated = True
                note = f"escalated to {', '.join(rule.escalate_to)}"
                self.transitions.append(
                    Transition(alert, "firing", "firing", now, "system", note, publish=False)
                )
                self._notify(alert, "escalation", now, to=rule.escalate_to)
        self._dispatch(now)

    def _resolve_orphans(self, now: float) -> None:
        """Metric alerts whose series sent nothing for longer than the window and the
        staleness limit (e.g. restored after a restart, then the source went away) resolve."""
        for alert in list(self.alerts.values()):
            rule = self.rules.get(alert.rule)
            if rule is None or rule.condition is None or rule.kind not in ("metric", "kpi"):
                continue
            quiet = max(rule.condition.window_s, STALE_S) + rule.keep_firing_s
            if now - alert.last_true_at > quiet:
                self._resolve(alert, now, by="system", note="no data")

    # ------------------------------------------------------------ people

    def acknowledge(self, fp: str, by: str) -> Alert | None:
        alert = self.alerts.get(fp)
        if alert is None or alert.state not in ("firing", "pending"):
            return None
        now = self.clock()
        alert.acked_by, alert.acked_at, alert.notify_pending = by, now, ""
        self._transition(alert, "acknowledged", now, by)
        return alert

    def resolve_by_hand(self, fp: str, by: str, note: str = "") -> Alert | None:
        alert = self.alerts.get(fp)
        if alert is None:
            return None
        self._resolve(alert, self.clock(), by=by, note=note or "resolved by hand")
        self.resolved_by_hand.add(fp)
        self._dispatch(self.clock())
        return alert

    def set_silences(self, silences: list[Silence]) -> None:
        self.silences = list(silences)
        # A removed or shortened silence may free alerts held back: look at them again.
        self._pending.update(fp for fp, a in self.alerts.items() if a.notify_pending)
        self._dispatch(self.clock())

    def restore(
        self,
        alerts: list[Alert],
        last_notified: dict[str, float],
        marks: dict[SeriesKey, float] | None = None,
    ) -> None:
        """State from the store after a restart: nothing already notified goes out again."""
        self.marks.update(marks or {})
        for alert in alerts:
            if alert.rule in self.rules:
                self.alerts[alert.fingerprint] = alert
                if (
                    alert.state == "firing"
                    and alert.notified
                    and alert.fingerprint not in last_notified
                ):
                    # Decided but never handed to a receiver (stopped inside the group wait):
                    # "notified" is only stored once a notice leaves its group, so send it now.
                    alert.notified = False
                    alert.notify_pending = "firing"
                if alert.notify_pending:
                    self._pending.add(alert.fingerprint)
        self.last_notified.update(last_notified)

    def drain(self) -> tuple[list[Transition], list[Notice]]:
        transitions, notices = self.transitions, self.notices
        self.transitions, self.notices = [], []
        return transitions, notices

    def drain_marks(self) -> dict[SeriesKey, float]:
        """Series marks that moved since the last call (stored with the transitions)."""
        marks, self._dirty_marks = self._dirty_marks, {}
        return marks
