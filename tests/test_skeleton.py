"""The walking skeleton: a line appended to a work log reaches the browser's page over SSE.

Real services (ingest, analyzer, gateway) in-process against a real nats-server, a real
watched folder and real SQLite files: append one CSV row → ingest publishes a WorkBatch →
the analyzer counts it and emits a KpiUpdate → the gateway pushes it over SSE → the
Overview fragment the page re-fetches shows the new count.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from services.analyzer.service import AnalyzerService
from services.core.config import Settings
from services.ingest.service import IngestService
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

HEADER = "timestamp,worker,event,details\n"


async def _next_sse_event(response: httpx.Response, family: str) -> dict[str, str]:
    """Read SSE lines until one event of ``family`` has arrived."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if event.get("event") == family:
                return event
            event = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        event[key] = value.strip()
    raise AssertionError("SSE stream ended")


async def _events_shown(client: httpx.AsyncClient, process: str) -> int:
    page = await client.get("/ui/fragments/production")
    assert page.status_code == 200
    marker = f'data-testid="events-{process}">'
    start = page.text.index(marker) + len(marker)
    return int(page.text[start : page.text.index("<", start)])


async def test_appended_line_reaches_the_page(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    today = datetime.now()
    log = watch / f"포장실작업이벤트로그_김민준_{today:%Y%m%d}.csv"
    log.write_text(HEADER, encoding="utf-8-sig")
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with (
        AnalyzerService(settings),
        IngestService(settings),
        running_gateway(settings) as gw,
    ):
        viewer = await gw.client("viewer")
        before = await _events_shown(viewer, "packing")
        async with viewer.stream("GET", "/api/v1/stream?family=kpi", timeout=30) as sse:
            assert sse.status_code == 200
            row = {"barcode": "A123-000001", "interval_sec": 3.2}
            stamp = today.strftime("%Y-%m-%d %H:%M:%S")
            with log.open("a", encoding="utf-8") as fh:
                fh.write(
                    f'{stamp},김민준,SCAN_OK,"{json.dumps(row).replace(chr(34), 2 * chr(34))}"\n'
                )
            event = await asyncio.wait_for(_next_sse_event(sse, "kpi"), 20)
        update = json.loads(event["data"])
        assert update["schema"] == "vigil.kpi_update/1"
        assert update["process"] == "packing"
        assert await _events_shown(viewer, "packing") == before + 1
