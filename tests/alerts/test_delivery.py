"""Receivers: a signed webhook to a local HTTP server, retries, timeouts, e-mail over SMTP,
and a restart that keeps state without notifying again."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from services.core.bus import Bus
from tests.alerts.helpers import (
    FakeClock,
    alert_settings,
    ask,
    capture,
    running,
    send_metric,
    settle,
)
from tests.alerts.http_sink import HttpSink
from tests.conftest import free_port, wait_for


def write_rules(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(text, encoding="utf-8")
    return folder


async def test_webhook_signed_and_restart_does_not_notify_again(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    async with HttpSink() as sink:
        rules = write_rules(
            tmp_path / "rules",
            f"""
receivers:
  - name: hook
    kind: webhook
    url: {sink.url}
    secret: s3cret
rules:
  - name: hot
    condition: 'temp > 50'
    severity: critical
    notify: [hook]
""",
        )
        clock = FakeClock()
        settings = alert_settings(make_settings, rules, group_wait_s=0)
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            await send_metric(bus, "temp", 60, clock(), room="a")
            await wait_for(lambda: len(sink.received) == 1)
            await settle(svc)
        request = sink.received[0]
        expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-vigil-signature"] == f"sha256={expected}"
        body = json.loads(request.body)
        assert body["kind"] == "firing" and body["receiver"] == "hook"
        assert [(a["rule"], a["state"], a["labels"]["room"]) for a in body["alerts"]] == [
            ("hot", "firing", "a")
        ]
        fingerprint = body["alerts"][0]["fingerprint"]

        # Restart: the alert is still firing, a new high sample changes nothing.
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            active = await ask(bus, "active")
            assert [(a["fingerprint"], a["state"]) for a in active] == [(fingerprint, "firing")]
            await send_metric(bus, "temp", 61, clock.advance(5), room="a")
            await wait_for(lambda: svc.engine.samples_seen >= 1)
            svc.engine.tick()
            await settle(svc)
            assert len(sink.received) == 1
            assert seen.states() == []
            await send_metric(bus, "temp", 20, clock.advance(5), room="a")
            await seen.wait_state("resolved")
            await wait_for(lambda: len(sink.received) == 2)
            assert json.loads(sink.received[1].body)["kind"] == "resolved"
            await settle(svc)
            log = await ask(bus, "deliveries", {"receiver": "hook"})
            assert [(d["kind"], d["status"], d["http_status"]) for d in log] == [
                ("resolved", "ok", 200),
                ("firing", "ok", 200),
            ]


async def test_failing_and_slow_receivers_are_retried_logged_and_never_block(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    async with HttpSink(statuses=[500, 500, 200]) as flaky, HttpSink(delay_s=3.0) as slow:
        rules = write_rules(
            tmp_path / "rules",
            f"""
receivers:
  - name: flaky
    url: {flaky.url}
    retries: 3
    backoff: 0.01
  - name: slow
    urls: [{slow.url}]
    timeout: 0.3
    retries: 1
    backoff: 0.01
rules:
  - name: a
    condition: 'temp > 50'
    notify: [flaky, slow]
  - name: b
    condition: 'pressure > 5'
""",
        )
        clock = FakeClock()
        settings = alert_settings(make_settings, rules, group_wait_s=0)
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            await send_metric(bus, "temp", 60, clock())
            await wait_for(lambda: len(slow.received) >= 1)
            # A receiver is hanging; evaluation goes on.
            await send_metric(bus, "pressure", 9, clock())
            await seen.wait_state("firing", "b")
            assert svc.deliverer._tasks, "the slow delivery should still be in flight"
            await wait_for(lambda: len(slow.received) == 2)
            await settle(svc)
            flaky_log = await ask(bus, "deliveries", {"receiver": "flaky"})
            assert [(d["attempt"], d["status"], d["http_status"]) for d in reversed(flaky_log)] == [
                (1, "retry", 500),
                (2, "retry", 500),
                (3, "ok", 200),
            ]
            slow_log = await ask(bus, "deliveries", {"receiver": "slow"})
            assert [(d["attempt"], d["status"]) for d in reversed(slow_log)] == [
                (1, "retry"),
                (2, "failed"),
            ]
            assert "Timeout" in slow_log[0]["error"]
            assert len(flaky.received) == 3


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content.decode("utf-8", "replace"),
            )
        )
        return "250 OK"


async def test_email_to_a_local_smtp_server(make_settings: Any, tmp_path: Path, bus: Bus) -> None:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        rules = write_rules(
            tmp_path / "rules",
            f"""
receivers:
  - name: mail
    kind: email
    smtp_host: 127.0.0.1
    smtp_port: {port}
    from: vigil@factory.test
    to: [ops@factory.test, boss@factory.test]
rules:
  - name: disk-full
    condition: 'disk.percent > 95'
    severity: error
    summary: Disk almost full
    notify: [mail]
""",
        )
        clock = FakeClock()
        settings = alert_settings(make_settings, rules, group_wait_s=0)
        async with running(settings, clock, bus) as svc:
            await send_metric(bus, "disk.percent", 97, clock(), mount="/data")
            await wait_for(lambda: len(inbox.messages) == 1)
            await settle(svc)
            sender, recipients, content = inbox.messages[0]
            assert sender == "vigil@factory.test"
            assert recipients == ["ops@factory.test", "boss@factory.test"]
            message = email.message_from_string(content)
            assert message["Subject"] == "[Vigil] firing: error disk-full"
            text = message.get_payload(decode=True).decode()
            assert "mount=/data" in text and "Disk almost full" in text
            log = await ask(bus, "deliveries", {"receiver": "mail"})
            assert [(d["channel"], d["status"]) for d in log] == [("email", "ok")]
    finally:
        await asyncio.to_thread(controller.stop)


async def test_escalation_silence_and_slack_over_nats(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    async with HttpSink() as ops, HttpSink() as boss, HttpSink() as slack:
        rules = write_rules(
            tmp_path / "rules",
            f"""
receivers:
  - name: ops
    url: {ops.url}
  - name: boss
    url: {boss.url}
  - name: chat
    kind: slack
    url: {slack.url}
rules:
  - name: line-down
    condition: 'line.up == 0'
    severity: error
    notify: [ops, chat]
    escalate: {{after: 15m, to: [boss]}}
""",
        )
        clock = FakeClock()
        settings = alert_settings(make_settings, rules, group_wait_s=0, repeat_interval_s=7200)
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            # Line 2 is silenced before it breaks: it fires but nobody is told.
            await ask(bus, "silence", {"matchers": {"line": "2"}, "duration": "1h", "by": "kim"})
            await send_metric(bus, "line.up", 0, clock(), line="1")
            await send_metric(bus, "line.up", 0, clock(), line="2")
            await seen.wait_state("firing", count=2)
            await wait_for(lambda: len(ops.received) == 1 and len(slack.received) == 1)
            assert json.loads(ops.received[0].body)["alerts"][0]["labels"]["line"] == "1"
            text = json.loads(slack.received[0].body)["text"]
            assert text.startswith("[Vigil] firing: 1 alert(s)") and "line=1" in text
            # 16 minutes later, still down and nobody acknowledged: the boss hears of line 1.
            # Small steps, each processed before the clock moves on: a jump past the 5 min
            # staleness of a bare selector would (rightly) resolve the alert.
            for step in range(8):
                clock.advance(2 * 60)
                await send_metric(bus, "line.up", 0, clock(), line="1")
                await send_metric(bus, "line.up", 0, clock(), line="2")
                await wait_for(lambda s=step: svc.engine.samples_seen >= 4 + 2 * s)
            await wait_for(lambda: len(boss.received) == 1)
            await settle(svc)
            body = json.loads(boss.received[0].body)
            assert body["kind"] == "escalation"
            assert [a["labels"]["line"] for a in body["alerts"]] == ["1"]
            assert len(ops.received) == 1 and len(slack.received) == 1
            history = await ask(bus, "history", {"rule": "line-down"})
            assert any(h["note"] == "escalated to boss" for h in history)


async def test_default_cpu_rules_critical_inhibits_warning(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    async with HttpSink() as sink:
        rules = write_rules(tmp_path / "rules", f"receivers:\n  - name: ops\n    url: {sink.url}\n")
        clock = FakeClock()
        settings = alert_settings(
            make_settings, rules, default_rules=True, default_notify=["ops"], group_wait_s=0
        )
        async with capture(bus) as seen, running(settings, clock, bus) as svc:
            # The host collector's shape: cpu.percent without labels, every 30 s, at 99 %.
            for step in range(13):
                await send_metric(bus, "cpu.percent", 99, clock())
                await wait_for(lambda s=step: svc.engine.samples_seen >= s + 1)
                clock.advance(30)
            await seen.wait_state("firing", "cpu-critical")
            await seen.wait_state("firing", "cpu-high")
            await wait_for(lambda: len(sink.received) >= 1)
            await settle(svc)
            notified = [a["rule"] for r in sink.received for a in json.loads(r.body)["alerts"]]
            assert notified == ["cpu-critical"]
            high = next(a for a in svc.engine.alerts.values() if a.rule == "cpu-high")
            assert high.inhibited_by
