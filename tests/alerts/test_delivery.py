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
