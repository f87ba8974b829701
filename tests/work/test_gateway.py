"""Work analytics through the real gateway: REST, problem+json, exports, the page."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import openpyxl

from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.work import gen
from tests.work.test_service import drained, publish, running


async def test_rest_exports_and_page(
    bus: Bus, nats_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    log = gen.generate(seed=5, days=4)
    settings = make_settings(gateway={"port": free_port()})
    async with running(nats_url, tmp_path / "analyzer"), running_gateway(settings) as gw:
        await publish(bus, gen.batches(log, size=20))
        await drained(bus)
        viewer = await gw.client("viewer")
        r = await viewer.get("/api/v1/work/kpis", params={"process": "packing"})
        assert r.status_code == 200, r.text
        trays = r.json()["kpis"]["total_trays"]
        assert trays > 0
        r = await viewer.get("/api/v1/work/workers", params={"process": "all"})
        assert r.status_code == 200 and r.json()["workers"]
        for path in ("today", "daily", "items", "errors", "problems"):
            assert (await viewer.get(f"/api/v1/work/{path}")).status_code == 200, path
        barcode = next(r.details["barcode"] for r in log.rows if r.event == "SCAN_OK")
        r = await viewer.get("/api/v1/work/trace", params={"kind": "barcode", "value": barcode})
        assert r.status_code == 200 and r.json()["scans"][0]["barcode"] == barcode

        # bad filters: 400 problem+json naming the parameter
        for params, name in (
            ({"process": "paint"}, "process"),
            ({"date_from": "2026-11-09", "date_to": "2026-11-01"}, "date_to"),
            ({"date_from": "11/09/2026"}, "date_from"),
        ):
            r = await viewer.get("/api/v1/work/kpis", params=params)
            assert r.status_code == 400
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["key"] == name and name in r.json()["detail"]

        # exports: CSV streamed with every session of the filter; xlsx opens
        r = await viewer.get("/api/v1/work/export/sessions",
                             params={"format": "csv", "process": "packing"})  # fmt: skip
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][0] == "process" and len(rows) - 1 == trays
        r = await viewer.get("/api/v1/work/export/errors", params={"format": "xlsx"})
        assert r.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        errors = (await viewer.get("/api/v1/work/errors")).json()["total"]
        assert sheet.max_row - 1 == errors and errors > 0

        # the page and its fragments render, in Korean too
        page = await viewer.get("/work", headers={"accept-language": "ko"})
        assert page.status_code == 200 and "작업 분석" in page.text
        frag = await viewer.get("/ui/fragments/work/summary", params={"process": "packing"})
        assert frag.status_code == 200 and f'data-testid="kpi-total_trays">{trays}<' in frag.text
        frag = await viewer.get("/ui/fragments/work/workers")
        assert frag.status_code == 200 and "worker-radar" in frag.text
        frag = await viewer.get("/ui/fragments/work/details")
        assert frag.status_code == 200 and "error-log" in frag.text
        bad = await viewer.get("/work", params={"date_from": "nope"})
        assert bad.status_code == 200 and "date_from" in bad.text and "Traceback" not in bad.text
        anonymous = await gw.client(None)
        assert (await anonymous.get("/api/v1/work/kpis")).status_code == 401
