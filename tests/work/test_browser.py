"""The Work analytics page in a real chromium: KPIs update live, radar, trace, Korean, phone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from services.analyzer.service import AnalyzerService
from services.core import contracts
from services.core.config import Settings
from tests.browser.conftest import browser, shot  # noqa: F401  (fixture)
from tests.browser.test_shell import login
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.work.helpers import event_batch, tray

pytestmark = pytest.mark.browser


async def test_work_page_live_radar_trace(
    browser: Any,  # noqa: F811
    make_settings: Callable[..., Settings],
) -> None:
    today = date.today().isoformat()
    settings = make_settings(gateway={"port": free_port()})
    async with AnalyzerService(settings), running_gateway(settings) as gw:
        await gw.ensure_user("boss", "viewer")
        bus = gw.service.bus
        for i, worker in enumerate(["kim", "lee", "park"]):
            b = tray("packing", worker, f"{today} 08:00:00", f"{today} 08:05:00", 2,
                     path=f"{worker}.csv", work_time=300 + 60 * i, WID="WO7")  # fmt: skip
            await bus.publish(contracts.work("packing"), b, msg_id=f"first:{worker}")
        scan = event_batch("packing", "kim", f"{today} 08:01:00", "SCAN_OK",
                           {"barcode": "BC42"}, 1, "kim.csv")  # fmt: skip
        await bus.publish(contracts.work("packing"), scan, msg_id="scan")
        context = await browser.new_context(locale="ko-KR", viewport={"width": 360, "height": 780})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await login(page, gw.url, "boss")
        await page.goto(gw.url + "/work?process=packing")
        cell = page.locator("[data-testid=kpi-total_trays]")
        await page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=kpi-total_trays]')?.innerText) >= 3",
            timeout=15000,
        )
        assert "작업 분석" in await page.inner_text("h2")
        await page.locator("[data-testid=worker-radar]").wait_for()
        await shot(page, "work-phone-ko")
        # more work arrives: the cards change without a reload
        b = tray("packing", "kim", f"{today} 09:00:00", f"{today} 09:05:00", 3, path="kim.csv")
        await bus.publish(contracts.work("packing"), b, msg_id="second")
        await page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=kpi-total_trays]').innerText) >= 4",
            timeout=15000,
        )
        assert int(await cell.inner_text()) == 4
        # trace a barcode: its session and process show up
        await page.click("[data-tab=tab-trace]")
        await page.fill("[data-testid=trace-form] input[name=value]", "BC42")
        await page.click("[data-testid=trace-form] button")
        await page.locator("[data-testid=trace-table] td").first.wait_for()
        assert "WO7" in await page.inner_text("[data-testid=trace-table]")
        # the page fits a phone: no horizontal scrolling of the whole page
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360 + 1
        assert errors == []
        await context.close()
