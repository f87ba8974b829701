"""The outbox: a notification or AlertEvent committed but not finished before the process
died goes out after restart with the same id; a redelivered old sample never transitions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from services.alerts.engine import AlertEngine, EngineOptions
from services.alerts.rules import parse_rules_text
from services.core.bus import Bus
from tests.alerts.helpers import FakeClock, alert_settings, capture, running, send_metric, settle
from tests.alerts.http_sink import HttpSink
from tests.conftest import wait_for


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_notification_in_flight_at_stop_is_resent_with_the_same_delivery_id(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    async with HttpSink(delay_s=30.0) as sink:
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "rules.yaml").write_text(
            f"receivers:\n  - name: hook\n    kind: webhook\n    url: {sink.url}\n"
            "    timeout: 60s\n"
            "rules:\n  - name: hot\n    condition: 'temp > 50'\n    notify: [hook]\n",
            encoding="utf-8",
        )
        clock = FakeClock()
        settings = alert_settings(make_settings, rules, group_wait_s=0)
        db = settings.data_path / "alerts.sqlite"
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            await send_metric(bus, "temp", 60, clock(), room="a")
            # The receiver got it but has not answered: the row is not marked done when the
            # service goes away (as after SIGKILL between sending and marking).
            await wait_for(lambda: len(sink.received) == 1)
            await seen.wait_state("firing")
            await svc.store.flush()
        assert _rows(db, "SELECT status FROM alerts_outbox") == [("pending",)]
        sink.delay_s = 0.0
        async with capture(bus) as again, running(settings, clock, bus) as svc:
            await wait_for(lambda: len(sink.received) == 2)
            await settle(svc)
            assert again.states() == [], "the transition is not published a second time"
        first, second = sink.received
        ids = [json.loads(r.body)["delivery_id"] for r in sink.received]
        assert ids[0] == ids[1] != ""
        assert first.headers["x-vigil-delivery-id"] == second.headers["x-vigil-delivery-id"]
        assert first.headers["x-vigil-delivery-id"] == ids[0]
        assert _rows(db, "SELECT status FROM alerts_outbox") == [("ok",)]
        assert _rows(db, "SELECT to_state FROM alerts_transition") == [("firing",)]
        assert _rows(db, "SELECT count(*) FROM alerts_event_outbox") == [(0,)]


def test_a_redelivered_older_sample_does_not_transition_again() -> None:
    ruleset = parse_rules_text("- name: hot\n  condition: 'temp > 50'\n", "rules.yaml")
    clock = FakeClock()
    engine = AlertEngine(ruleset.rules, EngineOptions(), clock)
    t0 = clock()
    engine.observe_sample("temp", {"room": "a"}, 60, t0)
    engine.observe_sample("temp", {"room": "a"}, 10, t0 + 1)
    states = [t.to_state for t in engine.drain()[0]]
    assert states == ["firing", "resolved"]
    marks = engine.drain_marks()
    assert list(marks.values()) == [t0 + 1]
    # After a restart the stored mark travels with the (empty) alert state.
    again = AlertEngine(ruleset.rules, EngineOptions(), clock)
    again.restore([], {}, marks)
    again.observe_sample("temp", {"room": "a"}, 60, t0)  # redelivered after a crash
    assert again.drain()[0] == [] and again.samples_late == 1
    again.observe_sample("temp", {"room": "a"}, 60, t0 + 2)  # new evidence still counts
    assert [t.to_state for t in again.drain()[0]] == ["firing"]
