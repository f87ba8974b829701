"""The engine with a controllable clock: state machine, dedupe, grouping, silences, inhibition,
flapping, escalation, hysteresis and the non-threshold rule kinds."""

from __future__ import annotations

import time

from services.alerts.engine import AlertEngine, EngineOptions
from services.alerts.fatigue import Notice
from services.alerts.model import Silence
from services.alerts.rules import parse_rules_text


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make(yaml_text: str, clock: Clock, **options: object) -> AlertEngine:
    parsed = parse_rules_text(yaml_text)
    assert not parsed.errors, parsed.errors
    return AlertEngine(parsed.rules, EngineOptions(**options), clock)  # type: ignore[arg-type]


def states(engine: AlertEngine) -> list[str]:
    transitions, _ = engine.drain()
    return [t.to_state for t in transitions]


def notices(engine: AlertEngine) -> list[Notice]:
    return engine.drain()[1]


CPU = """
- name: cpu
  condition: 'avg(cpu.percent{cpu="total"}[1m]) > 80'
  for: 30s
  notify: [ops]
"""


def test_pending_then_firing_after_for_then_resolved() -> None:
    clock = Clock()
    engine = make(CPU, clock)
    labels = {"cpu": "total", "host": "h1"}
    engine.observe_sample("cpu.percent", labels, 95, clock())
    assert states(engine) == ["pending"]
    clock.advance(10)
    engine.observe_sample("cpu.percent", labels, 96, clock())
    assert states(engine) == []
    clock.advance(25)
    engine.tick()  # no new sample: the ticker fires it once 'for' has elapsed
    transitions, sent = engine.drain()
    assert [t.to_state for t in transitions] == ["firing"]
    assert [(n.receiver, n.kind) for n in sent] == [("ops", "firing")]
    assert sent[0].alerts[0]["labels"] == {"cpu": "total", "host": "h1", "metric": "cpu.percent"}
    for _ in range(8):  # the 1 min average falls below 80
        clock.advance(10)
        engine.observe_sample("cpu.percent", labels, 10, clock())
    transitions, sent = engine.drain()
    assert [t.to_state for t in transitions] == ["resolved"]
    assert [n.kind for n in sent] == ["resolved"]
    assert engine.alerts == {}


def test_pending_that_clears_never_fires_or_notifies() -> None:
    clock = Clock()
    engine = make(CPU, clock)
    engine.observe_sample("cpu.percent", {"cpu": "total"}, 95, clock())
    clock.advance(5)
    engine.observe_sample("cpu.percent", {"cpu": "total"}, 0, clock())
    transitions, sent = engine.drain()
    assert [t.to_state for t in transitions] == ["pending", "resolved"]
    assert sent == []


def test_other_series_do_not_match() -> None:
    clock = Clock()
    engine = make(CPU, clock)
    engine.observe_sample("cpu.percent", {"cpu": "0"}, 99, clock())
    engine.observe_sample("memory.percent", {}, 99, clock())
    assert states(engine) == []


FAST = """
- name: hot
  condition: 'temp > 50'
  notify: [ops]
"""


def test_same_fingerprint_notified_once_per_repeat_interval() -> None:
    clock = Clock()
    engine = make(FAST, clock, repeat_s=300, flap_threshold=100)
    for _ in range(3):  # fire, resolve, fire again … within 5 minutes
        engine.observe_sample("temp", {}, 60, clock.advance(20))
        engine.observe_sample("temp", {}, 40, clock.advance(20))
    engine.observe_sample("temp", {}, 60, clock.advance(20))
    kinds = [n.kind for n in notices(engine)]
    assert kinds.count("firing") == 1
    clock.advance(300)
    engine.tick()  # still firing after the repeat interval: one reminder
    assert [n.kind for n in notices(engine)] == ["repeat"]
    engine.tick()
    assert notices(engine) == []


def test_grouping_waits_and_sends_one_notice_per_group() -> None:
    clock = Clock()
    rules = """
- name: disk
  condition: 'disk.percent > 90'
  group_by: [host]
  notify: [ops]
"""
    engine = make(rules, clock, group_wait_s=10)
    for mount in ("/", "/var", "/home"):
        engine.observe_sample("disk.percent", {"host": "a", "mount": mount}, 95, clock())
    engine.observe_sample("disk.percent", {"host": "b", "mount": "/"}, 95, clock())
    assert notices(engine) == []  # inside the group wait
    clock.advance(11)
    engine.tick()
    sent = sorted(notices(engine), key=lambda n: n.group_key)
    assert [(n.group_key, len(n.alerts)) for n in sent] == [("host=a", 3), ("host=b", 1)]


def test_silence_mutes_notifications_until_it_ends() -> None:
    clock = Clock()
    engine = make(FAST, clock)
    engine.set_silences(
        [Silence("s1", {"rule": "hot"}, clock(), clock() + 60, "kim", "maintenance")]
    )
    # Silence matchers see the rule name as a label too.
    engine.observe_sample("temp", {"room": "a"}, 70, clock())
    transitions, sent = engine.drain()
    assert [t.to_state for t in transitions] == ["firing"]
    assert sent == []
    assert next(iter(engine.alerts.values())).silenced_by == "s1"
    clock.advance(61)
    engine.tick()
    assert [n.kind for n in notices(engine)] == ["firing"]


def test_silence_by_regex_matcher() -> None:
    silence = Silence("s", {"host": "~web-.*"}, 0, 10)
    assert silence.matches({"host": "web-1"})
    assert not silence.matches({"host": "db-1"})
    assert not silence.active(10)


def test_critical_inhibits_warning_of_the_same_target() -> None:
    clock = Clock()
    rules = """
- name: cpu-warn
  condition: 'cpu.percent > 80'
  severity: warning
  notify: [ops]
- name: cpu-crit
  condition: 'cpu.percent > 95'
  severity: critical
  notify: [ops]
"""
    engine = make(rules, clock)
    engine.observe_sample("cpu.percent", {"host": "a"}, 99, clock())
    engine.observe_sample("cpu.percent", {"host": "b"}, 85, clock())  # only a warning on b
    sent = notices(engine)
    fired = sorted((n.alerts[0]["rule"], n.alerts[0]["labels"]["host"]) for n in sent)
    assert fired == [("cpu-crit", "a"), ("cpu-warn", "b")]
    warn_a = [a for a in engine.alerts.values() if a.rule == "cpu-warn" and a.labels["host"] == "a"]
    assert warn_a[0].inhibited_by
    # The critical clears while the warning holds: the warning goes out now.
    engine.observe_sample("cpu.percent", {"host": "a"}, 90, clock.advance(1))
    sent = notices(engine)
    assert sorted((n.kind, n.alerts[0]["rule"]) for n in sent) == [
        ("firing", "cpu-warn"),
        ("resolved", "cpu-crit"),
    ]


def test_flapping_sends_one_notice_and_then_stays_quiet() -> None:
    clock = Clock()
    engine = make(FAST, clock, repeat_s=0.0, flap_window_s=600, flap_threshold=6)
    kinds: list[str] = []
    for _ in range(10):
        engine.observe_sample("temp", {}, 60, clock.advance(5))
        engine.observe_sample("temp", {}, 40, clock.advance(5))
        kinds += [n.kind for n in notices(engine)]
    assert kinds.count("flapping") == 1
    # Before it was detected, a few normal notices went out; after, none.
    last_flap = len(kinds) - 1 - kinds[::-1].index("flapping")
    assert kinds[last_flap + 1 :] == []
    assert sum(1 for k in kinds if k == "firing") <= 3


def test_escalation_when_unacknowledged_and_not_when_acknowledged() -> None:
    clock = Clock()
    rules = """
- name: down
  condition: 'up == 0'
  notify: [ops]
  escalate: {after: 15m, to: [boss]}
"""
    engine = make(rules, clock, repeat_s=3600)
    engine.observe_sample("up", {"target": "a"}, 0, clock())
    engine.observe_sample("up", {"target": "b"}, 0, clock())
    engine.drain()
    ack = next(a for a in engine.alerts.values() if a.labels["target"] == "b")
    assert engine.acknowledge(ack.fingerprint, "lee") is not None

    def still_down(seconds: float) -> None:
        clock.advance(seconds)
        for target in ("a", "b"):
            engine.observe_sample("up", {"target": target}, 0, clock())
        engine.tick()

    still_down(14 * 60)
    assert notices(engine) == []
    still_down(61)
    transitions, sent = engine.drain()
    assert [(n.receiver, n.kind, n.alerts[0]["labels"]["target"]) for n in sent] == [
        ("boss", "escalation", "a")
    ]
    assert any("escalated to boss" in t.note for t in transitions)
    engine.tick()
    assert notices(engine) == []  # escalates once


def test_manual_resolve_and_ack_are_recorded_with_who() -> None:
    clock = Clock()
    engine = make(FAST, clock)
    engine.observe_sample("temp", {}, 60, clock())
    fp = next(iter(engine.alerts))
    engine.acknowledge(fp, "kim")
    engine.resolve_by_hand(fp, "lee", "fixed the fan")
    transitions, _ = engine.drain()
    assert [(t.to_state, t.by) for t in transitions] == [
        ("firing", ""),
        ("acknowledged", "kim"),
        ("resolved", "lee"),
    ]
    assert transitions[-1].note == "fixed the fan"


def test_hysteresis_and_keep_firing() -> None:
    clock = Clock()
    rules = """
- name: mem
  condition: 'memory.percent > 85'
  clear: 80
  notify: [ops]
- name: busy
  condition: 'load > 10'
  keep_firing_for: 1m
"""
    engine = make(rules, clock)
    engine.observe_sample("memory.percent", {}, 90, clock())
    engine.observe_sample("memory.percent", {}, 83, clock.advance(1))  # under 85, over 80
    assert states(engine) == ["firing"]
    engine.observe_sample("memory.percent", {}, 79, clock.advance(1))
    assert states(engine) == ["resolved"]
    engine.observe_sample("load", {}, 11, clock())
    engine.observe_sample("load", {}, 1, clock.advance(30))
    assert states(engine) == ["firing"]
    clock.advance(31)
    engine.tick()
    assert states(engine) == ["resolved"]


def test_event_security_consecutive_kpi_rules() -> None:
    clock = Clock()
    rules = """
- name: crash
  kind: event
  source: program_exited
  match: {expected: false}
  by: [program_id]
  resolve_after: 10m
- name: logins
  kind: security
  event: failed_login
  threshold: 3
  window: 5m
  by: [remote]
- name: boom
  kind: event
  source: log
  regex: {message: "(?i)out of memory"}
- name: streak
  kind: consecutive
  source: target
  count: 3
- name: fpy
  kind: kpi
  kpi: avg_fpy
  below: 0.95
"""
    engine = make(rules, clock)
    engine.observe_event("program_exited", {"program_id": "p1", "expected": True})
    engine.observe_event("program_exited", {"program_id": "p1", "expected": False})
    for _ in range(2):
        engine.observe_event("audit", {"action": "login", "ok": False, "remote": "10.0.0.9"})
    engine.observe_event("audit", {"action": "login", "ok": True, "remote": "10.0.0.9"})
    engine.observe_event("log", {"message": "all good", "source": "app"})
    engine.observe_event("log", {"message": "Out Of Memory: killed", "source": "app"})
    for status in ("down", "down", "up", "down", "down"):
        engine.observe_event("target", {"target_id": "api", "status": status})
    engine.observe_sample("kpi.avg_fpy", {"process": "packing"}, 0.97, clock())
    assert sorted(a.rule for a in engine.alerts.values()) == ["boom", "crash"]
    engine.observe_event("audit", {"action": "login", "ok": False, "remote": "10.0.0.9"})
    engine.observe_event("target", {"target_id": "api", "status": "down"})
    engine.observe_sample("kpi.avg_fpy", {"process": "packing"}, 0.91, clock())
    assert sorted(a.rule for a in engine.alerts.values()) == [
        "boom",
        "crash",
        "fpy",
        "logins",
        "streak",
    ]
    crash = next(a for a in engine.alerts.values() if a.rule == "crash")
    assert crash.labels == {"program_id": "p1"}
    engine.observe_event("target", {"target_id": "api", "status": "up"})
    clock.advance(601)
    engine.tick()
    assert sorted(a.rule for a in engine.alerts.values()) == ["fpy"]


def test_absence_inside_working_hours_only() -> None:
    # A Wednesday 10:00 local time, then 20:00 the same day.
    wed_10 = time.mktime((2026, 11, 18, 10, 0, 0, 0, 0, -1))
    clock = Clock(wed_10)
    rules = """
- name: quiet
  kind: absence
  source: work
  expect: [packing]
  for: 30m
  working_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00"}
"""
    engine = make(rules, clock)
    clock.advance(29 * 60)
    engine.tick()
    assert engine.alerts == {}
    engine.observe_event("work", {"process": "transfer"})
    clock.advance(2 * 60)
    engine.tick()
    alerts = list(engine.alerts.values())
    assert [(a.rule, a.labels) for a in alerts] == [("quiet", {"process": "packing"})]
    engine.observe_event("work", {"process": "packing"})
    assert engine.alerts == {}
    clock.now = wed_10 + 10 * 3600  # 20:00: outside working hours, no alert however long
    engine.tick()
    assert engine.alerts == {}
