"""Alerts over the gateway: REST per role, problem+json errors, CSV export, the Alerts page and
its fragments, all against a real gateway, a real alerts service and a real nats-server."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from services.core.bus import Bus
from tests.alerts.helpers import FakeClock, alert_settings, capture, running, send_metric, settle
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

RULES = """
- name: hot
  condition: 'temp > 50'
  severity: critical
  summary: Oven too hot
"""


async def test_rest_and_pages_per_role(make_settings: Any, tmp_path: Path, bus: Bus) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES, encoding="utf-8")
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    gw_settings = make_settings(gateway={"port": free_port()})
    async with (
        capture(bus) as seen,
        running(settings, clock, bus) as svc,
        running_gateway(gw_settings) as gw,
    ):
        viewer = await gw.client("viewer")
        operator = await gw.client("operator")
        admin = await gw.client("admin")
        robot = await gw.client("operator", via="api_key")
        await send_metric(bus, "temp", 70, clock(), oven="o1")
        await seen.wait_state("firing")

        r = await viewer.get("/api/v1/alerts", params={"severity": "critical", "target": "o1"})
        assert r.status_code == 200
        [alert] = r.json()
        assert (alert["rule"], alert["state"], alert["labels"]["oven"]) == ("hot", "firing", "o1")
        fp = alert["fingerprint"]
        assert (await viewer.get("/api/v1/alerts", params={"severity": "info"})).json() == []

        # Viewers see, operators act.
        assert (await viewer.post(f"/api/v1/alerts/{fp}/ack")).status_code == 403
        r = await robot.post(f"/api/v1/alerts/{fp}/ack")
        assert r.status_code == 200 and r.json()["acked_by"] == "key:test-operator"
        r = await operator.post(f"/api/v1/alerts/{fp}/ack")
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "no pending or firing alert" in r.json()["detail"]

        # Silences: bad input is a clear 400; a good one is listed.
        r = await operator.post("/api/v1/alerts/silences", json={"duration": "1h"})
        assert r.status_code == 400 and "matchers" in r.json()["detail"]
        r = await operator.post(
            "/api/v1/alerts/silences",
            json={"matchers": {"oven": "o2"}, "duration": "30m", "reason": "cleaning"},
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        listed = (await viewer.get("/api/v1/alerts/silences")).json()
        assert [(s["id"], s["created_by"], s["reason"]) for s in listed] == [
            (sid, "test-operator", "cleaning")
        ]
        assert (await operator.delete(f"/api/v1/alerts/silences/{sid}")).status_code == 200

        # Rules: everyone reads; only admins edit; a bad document names its line.
        names = [x["name"] for x in (await viewer.get("/api/v1/alerts/rules")).json()["rules"]]
        assert names == ["hot"]
        bad = (
            "- name: x\n  condition: 'avg(y[5m]) > 1'\n- name: z\n  condition: 'max(y[oops]) > 1'\n"
        )
        assert (
            await operator.put("/api/v1/alerts/rules/source", json={"text": bad})
        ).status_code == 403
        r = await admin.put("/api/v1/alerts/rules/source", json={"text": bad})
        assert r.status_code == 400
        assert "rules.yaml:4: 'z' condition: column 7: bad duration 'oops'" in r.json()["detail"]
        r = await admin.put("/api/v1/alerts/rules/source", json={"text": RULES})
        assert r.status_code == 200 and r.json()["rules"] == 1
        assert (await admin.get("/api/v1/alerts/receivers")).status_code == 200
        assert (await viewer.get("/api/v1/alerts/deliveries")).status_code == 403

        # Resolve by hand, then the history (JSON and CSV) shows who did what.
        r = await operator.post(f"/api/v1/alerts/{fp}/resolve", json={"note": "door open"})
        assert r.status_code == 200
        await seen.wait_state("resolved")
        await settle(svc)
        r = await viewer.get("/api/v1/alerts/history", params={"rule": "hot"})
        assert [(h["to_state"], h["by"]) for h in r.json()] == [
            ("resolved", "test-operator"),
            ("acknowledged", "key:test-operator"),
            ("firing", ""),
        ]
        r = await viewer.get("/api/v1/alerts/history", params={"format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][:6] == ["ts", "rule", "severity", "fingerprint", "from_state", "to_state"]
        assert [row[5] for row in rows[1:]] == ["resolved", "acknowledged", "firing"]
        assert "door open" in r.text

        # The page and fragments render for a viewer, with actions only for operators.
        await send_metric(bus, "temp", 80, clock.advance(1), oven="o3")
        await seen.wait_state("firing", count=2)
        page = await viewer.get("/alerts", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert 'data-rule="hot"' in page.text and "Oven too hot" in page.text
        assert (
            'data-testid="ack"' not in page.text and 'data-testid="rules-editor"' not in page.text
        )
        fragment = await operator.get("/ui/fragments/alerts")
        assert 'data-testid="ack"' in fragment.text and "oven=o3" in fragment.text
        badge = await viewer.get("/ui/fragments/alerts/badge")
        assert 'data-testid="alert-badge"' in badge.text and "1" in badge.text
        admin_page = await admin.get("/alerts")
        assert 'data-testid="rules-editor"' in admin_page.text
        fp3 = next(a["fingerprint"] for a in (await viewer.get("/api/v1/alerts")).json())
        r = await operator.post(f"/ui/alerts/{fp3}/resolve")
        assert r.status_code == 200 and 'data-testid="alerts-none"' in r.text
        r = await admin.post("/ui/alerts/rules", data={"text": bad, "action": "validate"})
        assert "rules.yaml:4: &#39;z&#39; condition: column 7" in r.text
        r = await operator.post("/ui/alerts/silences", data={"matchers": "nonsense"})
        assert 'data-testid="silence-error"' in r.text and "expected label=value" in r.text


async def test_alerts_service_down_is_a_503_problem(make_settings: Any) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        r = await viewer.get("/api/v1/alerts")
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "alerts service unavailable" in r.json()["detail"]
        page = await viewer.get("/alerts", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "alerts service unavailable" in page.text


async def test_alert_stream_filters_by_severity_and_target(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    import asyncio
    import json

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(
        "- name: warm\n  condition: 'temp > 40'\n  severity: warning\n"
        "- name: hot\n  condition: 'temp > 50'\n  severity: critical\n",
        encoding="utf-8",
    )
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with (
        capture(bus) as seen,
        running(settings, clock, bus),
        running_gateway(make_settings(gateway={"port": free_port()})) as gw,
    ):
        viewer = await gw.client("viewer")
        received: list[dict[str, Any]] = []
        opened = asyncio.Event()

        async def listen() -> None:
            params = {"severity": "critical", "target": "o1"}
            async with viewer.stream("GET", "/api/v1/alerts/stream", params=params) as r:
                assert r.status_code == 200
                event = ""
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                        opened.set()
                    elif line.startswith("data:") and event == "alert":
                        received.append(json.loads(line.split(":", 1)[1]))

        task = asyncio.create_task(listen())
        await asyncio.wait_for(opened.wait(), 5)
        await send_metric(bus, "temp", 45, clock(), oven="o1")  # warning only
        await send_metric(bus, "temp", 60, clock(), oven="o2")  # critical, other oven
        await send_metric(bus, "temp", 60, clock(), oven="o1")  # critical, o1: the one
        await seen.wait_state("firing", count=4)
        await asyncio.sleep(0.3)
        task.cancel()
        assert [(e["rule"], e["labels"]["oven"], e["state"]) for e in received] == [
            ("hot", "o1", "firing")
        ]
