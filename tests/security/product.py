"""The whole product running in-process and filled with hostile strings through every input.

``hostile_product(settings, watch)`` starts the analyzer, ingest (watching ``watch``),
alerts and the gateway against the test broker, then feeds script/markup/template
payloads through each path a user or a device controls: work-log file names and
columns (worker, event, item, barcode, work order), a program registered over the API
(its name and what it prints), a target, pushed metric labels, a metric plugin, an
alert rule's summary and labels, an API key. It yields once each has shown up.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from services.alerts.service import AlertsService
from services.analyzer.service import AnalyzerService
from services.core.config import Settings
from services.ingest.service import IngestService
from tests.conftest import wait_for
from tests.gateway_harness import RunningGateway, running_gateway

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
# What must never reach a page as markup (the escaped form may).
HOSTILE = (SCRIPT, IMG)
PROGRAM_ID = "xss-prog"
TARGET_ID = "xss-target"
RULES = f"""
rules:
  - name: xss-rule
    condition: "xss.depth > 0"
    severity: critical
    labels: {{evil: {json.dumps(SCRIPT)}, img: {json.dumps(IMG)}}}
    summary: {json.dumps(SCRIPT + IMG + TEMPLATE)}
"""


def _row(ts: str, worker: str, event: str, details: object) -> list[str]:
    text = details if isinstance(details, str) else json.dumps(details, ensure_ascii=False)
    return [ts, worker, event, text]


def write_work_logs(watch: Path) -> None:
    """Two work logs whose names, workers, events and details carry the payloads."""
    now = datetime.now()
    day = f"{now:%Y%m%d}"
    start = now.replace(second=0, microsecond=0)
    ts = start.strftime("%Y-%m-%d %H:%M:%S")
    begun = (start.replace(minute=0) if start.minute else start).strftime("%Y-%m-%d %H:%M:%S")
    tray = {
        "start_time": begun,
        "work_time": 60,
        "item_code": SCRIPT,
        "item_name": IMG,
        "WID": SCRIPT + TEMPLATE,
        "shipping_date": now.strftime("%Y-%m-%d"),
        "scan_count": 1,
        "process_errors": 1,
        "had_error": True,
    }
    rows = {
        # The file-name worker is a payload too ('/' cannot be in a file name).
        f"포장실작업이벤트로그_{IMG}_{day}.csv": [
            _row(ts, SCRIPT, "SCAN_OK", {"barcode": SCRIPT, "interval_sec": 2}),
            _row(ts, SCRIPT, "SCAN_OK", {"barcode": IMG, "interval_sec": 2}),
            _row(ts, "", SCRIPT, {"barcode": TEMPLATE, "message": SCRIPT}),
            _row(ts, "", "SCAN_ERROR", {"barcode": IMG, "error": IMG}),
            _row(ts, SCRIPT, "TRAY_COMPLETE", tray),
            _row(ts, "", "TRAY_COMPLETE", tray),
        ],
        f"검사작업이벤트로그_{TEMPLATE}_{day}.csv": [
            _row(ts, "", IMG, f"CLC={SCRIPT}|WID={IMG}|scan_count=1"),
            _row(ts, "", "TRAY_COMPLETE", {**tray, "good_count": 1, "defective_count": 0}),
        ],
    }
    for name, lines in rows.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["timestamp", "worker", "event", "details"])
        writer.writerows(lines)
        (watch / name).write_text(buf.getvalue(), encoding="utf-8-sig")


@dataclass
class HostileProduct:
    gw: RunningGateway
    admin: httpx.AsyncClient
    settings: Settings


async def _ok(response: httpx.Response) -> httpx.Response:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response


async def feed(gw: RunningGateway, admin: httpx.AsyncClient) -> None:
    """Everything a user can register or push over the API, with payloads."""
    printer = f"print({SCRIPT!r}); print({IMG!r}); print({TEMPLATE!r}); import time; time.sleep(60)"
    await _ok(
        await admin.put(
            f"/api/v1/programs/{PROGRAM_ID}",
            json={"name": SCRIPT + IMG + TEMPLATE, "argv": [sys.executable, "-c", printer]},
        )
    )
    await _ok(
        await admin.post(
            "/api/v1/targets",
            json={
                "id": TARGET_ID,
                "kind": "http",
                "url": "http://127.0.0.1:9/",
                "name": SCRIPT + IMG + TEMPLATE,
                "interval_s": 3600,
                "timeout_s": 1,
            },
        )
    )
    await _ok(await admin.put("/api/v1/alerts/rules/source", json={"text": RULES}))
    await _ok(
        await admin.post(
            "/api/v1/metrics/plugins",
            json={"plugin_id": "xss_plugin", "plugin_name": SCRIPT, "description": IMG},
        )
    )
    labels = {"evil": SCRIPT, "img": IMG, "tpl": TEMPLATE}
    await _ok(
        await admin.post(
            "/api/v1/metrics",
            json={"samples": [{"name": "xss.depth", "value": 5, "labels": labels}]},
        )
    )
    await _ok(
        await admin.post(
            "/api/v1/metrics",
            json={"plugin_id": "xss_plugin", "metrics": {"xss_plugin.value": 1}},
        )
    )
    await _ok(await admin.post("/api/v1/keys", json={"name": SCRIPT, "role": "viewer"}))


async def _has(client: httpx.AsyncClient, path: str, needle: str) -> bool:
    response = await client.get(path)
    return response.status_code == 200 and needle in response.text


async def wait_until_shown(admin: httpx.AsyncClient) -> None:
    """Each payload has travelled through its service and is readable over the API."""
    script_json = json.dumps(SCRIPT)[1:-1]
    checks = [
        ("/api/v1/work/workers", script_json),
        ("/api/v1/work/workers", json.dumps(TEMPLATE)[1:-1]),
        (f"/api/v1/programs/{PROGRAM_ID}/output", script_json),
        (f"/api/v1/targets/{TARGET_ID}", script_json),
        ("/api/v1/metrics/series?name=xss.depth", script_json),
        ("/api/v1/alerts", "xss-rule"),
    ]
    for path, needle in checks:
        try:
            await wait_for(lambda p=path, n=needle: _has(admin, p, n), timeout=30, step=0.2)
        except AssertionError:
            last = await admin.get(path)
            raise AssertionError(f"{path}: no {needle!r} in {last.text[:1500]}") from None


@contextlib.asynccontextmanager
async def hostile_product(settings: Settings, watch: Path) -> AsyncIterator[HostileProduct]:
    write_work_logs(watch)
    async with (
        AnalyzerService(settings),
        IngestService(settings),
        AlertsService(settings),
        running_gateway(settings) as gw,
    ):
        admin = await gw.client("admin")
        await feed(gw, admin)
        await wait_until_shown(admin)
        yield HostileProduct(gw=gw, admin=admin, settings=settings)
