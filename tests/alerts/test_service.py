"""The alerts service end to end over a real nats-server, real SQLite and a controllable clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.core import contracts
from services.core.bus import Bus, RpcError
from tests.alerts.helpers import (
    FakeClock,
    alert_settings,
    ask,
    capture,
    running,
    send_metric,
    settle,
)
from tests.conftest import wait_for

CPU_RULE = """
rules:
  - name: cpu
    condition: 'avg(cpu.percent{cpu="total"}[1m]) > 80'
    for: 30s
    severity: warning
"""


async def test_threshold_pending_firing_resolved(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cpu.yaml").write_text(CPU_RULE, encoding="utf-8")
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with capture(bus) as seen, running(settings, clock, bus) as svc:
        await send_metric(bus, "cpu.percent", 95, clock(), cpu="total")
        await seen.wait_state("pending")
        assert seen.events[0][0] == "vigil.alert.warning.cpu"
        clock.advance(31)  # the ticker notices 'for' has elapsed
        await seen.wait_state("firing")
        active = await ask(bus, "active")
        assert [(a["rule"], a["state"], a["labels"]["host"]) for a in active] == [
            ("cpu", "firing", "testhost")
        ]
        for _ in range(7):
            await send_metric(bus, "cpu.percent", 5, clock.advance(10), cpu="total")
        await seen.wait_state("resolved")
        assert seen.states() == ["pending", "firing", "resolved"]
        await settle(svc)
        history = await ask(bus, "history", {"rule": "cpu"})
        assert [h["to_state"] for h in history] == ["resolved", "firing", "pending"]
        assert await ask(bus, "active") == []


async def test_event_and_security_rules_from_real_events(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    clock = FakeClock()
    settings = alert_settings(make_settings, tmp_path / "rules", default_rules=True)
    async with capture(bus) as seen, running(settings, clock, bus):
        exited = contracts.ProgramExited(program_id="packer", expected=False, exit_code=3)
        await bus.publish(contracts.program_exited("packer"), exited)
        await seen.wait_state("firing", "program-exited-unexpectedly")
        subject, event = next(
            (s, e) for s, e in seen.events if e.rule == "program-exited-unexpectedly"
        )
        assert subject == "vigil.alert.error.program-exited-unexpectedly"
        assert event.labels == {"program_id": "packer"}
        for _ in range(5):
            await bus.publish(
                contracts.audit("login"),
                contracts.AuditEvent(actor="x", action="login", ok=False, remote="10.1.1.1"),
            )
        await seen.wait_state("firing", "failed-logins")
        assert seen.states("failed-logins") == ["firing"]


async def test_bad_rule_is_reported_with_line_and_others_keep_working(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mixed.yaml").write_text(
        "- name: broken\n  condition: 'avg(x[5m]) >'\n- name: hot\n  condition: 'temp > 50'\n",
        encoding="utf-8",
    )
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with capture(bus) as seen, running(settings, clock, bus):
        listing = await ask(bus, "rules")
        assert [r["name"] for r in listing["rules"]] == ["hot"]
        assert len(listing["errors"]) == 1
        assert (
            "mixed.yaml:2: 'broken' condition: column 13: expected a number" in listing["errors"][0]
        )
        await send_metric(bus, "temp", 60, clock())
        await seen.wait_state("firing", "hot")
        # Hot reload: a new file appears and its rule applies without a restart.
        (rules / "more.yaml").write_text("- name: cold\n  condition: 'temp < 0'\n", "utf-8")

        async def has_cold() -> bool:
            return "cold" in [r["name"] for r in (await ask(bus, "rules"))["rules"]]

        await wait_for(has_cold)
        await send_metric(bus, "temp", -5, clock())
        await seen.wait_state("firing", "cold")
        # The editor API refuses an invalid document and writes nothing.
        with pytest.raises(RpcError) as info:
            await ask(bus, "rules_put", {"text": "- name: z\n  condition: 'x > 1'\n  for: soon\n"})
        assert info.value.code == 400
        assert "rules.yaml:3: 'z' for: bad duration 'soon'" in info.value.description
        assert not (rules / "rules.yaml").exists()
        ok = await ask(bus, "rules_put", {"text": "- name: z\n  condition: 'x > 1'\n"})
        assert ok["ok"] is True
        assert (await ask(bus, "rules_source"))["text"].startswith("- name: z")


async def test_ack_silence_resolve_by_hand_with_who(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text("- name: hot\n  condition: 'temp > 50'\n", "utf-8")
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with capture(bus) as seen, running(settings, clock, bus) as svc:
        await send_metric(bus, "temp", 60, clock(), room="a")
        await seen.wait_state("firing")
        fp = seen.events[-1][1].fingerprint
        acked = await ask(bus, "ack", {"fingerprint": fp, "by": "kim"})
        assert acked["state"] == "acknowledged" and acked["acked_by"] == "kim"
        await seen.wait_state("acknowledged")
        silence = await ask(
            bus,
            "silence",
            {"matchers": {"room": "b"}, "duration": "2h", "by": "lee", "reason": "fix"},
        )
        assert silence["ends_at"] - silence["starts_at"] == pytest.approx(7200)
        listed = await ask(bus, "silences")
        assert [(s["id"], s["active"], s["created_by"]) for s in listed] == [
            (silence["id"], True, "lee")
        ]
        await ask(bus, "resolve", {"fingerprint": fp, "by": "park", "note": "done"})
        await seen.wait_state("resolved")
        with pytest.raises(RpcError):
            await ask(bus, "resolve", {"fingerprint": fp, "by": "park"})
        with pytest.raises(RpcError) as bad:
            await ask(bus, "silence", {"matchers": {}, "duration": "1h"})
        assert "matchers" in bad.value.description
        with pytest.raises(RpcError) as bad_regex:
            await ask(bus, "silence", {"matchers": {"room": "~("}, "duration": "1h"})
        assert "matchers.room: bad regex '('" in bad_regex.value.description
        await settle(svc)
        history = await ask(bus, "history", {"fingerprint": fp})
        assert [(h["to_state"], h["by"]) for h in history] == [
            ("resolved", "park"),
            ("acknowledged", "kim"),
            ("firing", ""),
        ]
