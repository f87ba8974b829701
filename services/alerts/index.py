"""The engine's bookkeeping of series: options, one series' window and rules, the rule index."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.alerts.alert import fingerprint
from services.alerts.model import Rule
from services.alerts.windows import SeriesWindow

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class EngineOptions:
    """Fatigue settings of one engine."""

    repeat_s: float = 300.0
    group_wait_s: float = 0.0
    flap_window_s: float = 600.0
    flap_threshold: int = 6
    default_notify: tuple[str, ...] = ()


@dataclass
class Series:
    """One metric series: its window and the rules that watch it."""

    name: str
    labels: dict[str, str]
    window: SeriesWindow
    rules: list[Rule] = field(default_factory=list)
    # Per bound rule: the alert's labels and fingerprint, computed once (hot path).
    identity: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)
    key: SeriesKey = ("", ())
    # The newest sample time evaluated (persisted as the series' mark in alerts.sqlite).
    last_ts: float = float("-inf")


class RuleIndex:
    """Threshold rules by metric name and by their first equality matcher, so binding a new
    series looks at the few rules that can match it, not at all of them."""

    def __init__(self, rules: list[Rule]) -> None:
        self.by_name: dict[str, list[Rule]] = {}
        self.by_label: dict[tuple[str, str, str], list[Rule]] = {}
        for rule in rules:
            if rule.condition is None or rule.kind not in ("metric", "kpi", "consecutive"):
                continue
            sel = rule.condition.selector
            eq = next((m for m in sel.matchers if m.op == "="), None)
            if eq is None:
                self.by_name.setdefault(sel.name, []).append(rule)
            else:
                self.by_label.setdefault((sel.name, eq.label, eq.value), []).append(rule)

    def bind(self, series: Series) -> None:
        """Attach the matching rules to ``series`` and size its window for the longest one."""
        candidates = list(self.by_name.get(series.name, []))
        for label, value in series.labels.items():
            candidates += self.by_label.get((series.name, label, value), [])
        series.rules = [
            r
            for r in candidates
            if r.condition and r.condition.selector.matches(series.name, series.labels)
        ]
        series.identity = {}
        for rule in series.rules:
            labels = {**rule.labels, **series.labels, "metric": series.name}
            series.identity[rule.name] = (labels, fingerprint(rule.name, labels))
        windows = [r.condition.window_s for r in series.rules if r.condition]
        series.window.keep_s = max([*windows, 0.0])
