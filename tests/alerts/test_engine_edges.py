"""Engine edge cases: non-finite samples, state restored after a restart, orphaned alerts."""

from __future__ import annotations

from tests.alerts.test_fatigue import FAST, Clock, make, notices, states


def test_non_finite_samples_are_dropped_not_poisoning_the_window() -> None:
    clock = Clock()
    engine = make("- name: avg\n  condition: 'avg(x[1m]) > 5'\n", clock)
    engine.observe_sample("x", {}, 10, clock())
    engine.observe_sample("x", {}, float("nan"), clock.advance(1))
    engine.observe_sample("x", {}, float("inf"), clock.advance(1))
    assert engine.samples_dropped == 2
    assert states(engine) == ["firing"]
    engine.observe_sample("x", {}, 0, clock.advance(1))
    engine.observe_sample("x", {}, 0, clock.advance(1))
    assert states(engine) == ["resolved"]  # avg(10, 0, 0) = 3.3: a real number again


def test_restore_sends_a_notice_that_never_left_its_group() -> None:
    clock = Clock()
    engine = make(FAST, clock, group_wait_s=30)
    engine.observe_sample("temp", {}, 60, clock())
    assert notices(engine) == []  # still waiting in its group when the service stops
    alert = next(iter(engine.alerts.values()))
    assert alert.notified
    saved = type(alert).from_dict(alert.to_dict())
    # After a restart: the store has no "notified" row for it, so it goes out now.
    again = make(FAST, clock, group_wait_s=0)
    again.restore([saved], {})
    again.tick()
    assert [n.kind for n in notices(again)] == ["firing"]
    # Whereas one whose notice was delivered stays quiet.
    quiet = make(FAST, clock, group_wait_s=0)
    quiet.restore([type(alert).from_dict(alert.to_dict())], {alert.fingerprint: clock()})
    quiet.tick()
    assert notices(quiet) == []


def test_restored_alert_without_data_resolves_after_the_staleness_limit() -> None:
    clock = Clock()
    engine = make(FAST, clock)
    engine.observe_sample("temp", {}, 60, clock())
    saved = next(iter(engine.alerts.values())).to_dict()
    fresh = make(FAST, clock)
    fresh.restore(
        [type(next(iter(engine.alerts.values()))).from_dict(saved)], {saved["fingerprint"]: clock()}
    )
    clock.advance(200)
    fresh.tick()
    assert states(fresh) == []
    clock.advance(101)
    fresh.tick()
    transitions, _ = fresh.drain()
    assert [(t.to_state, t.note) for t in transitions] == [("resolved", "no data")]
