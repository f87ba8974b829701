"""Work analytics in a real chromium: the charts survive the live refreshes (they went blank)."""

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

pytestmark = pytest.mark.browser
WORKERS = ["kim", "lee", "park", "choi"]

# True when the canvas's drawing buffer has the size Chart.js gave it; htmx's settle step
# used to strip it back to the 300x150 default of an empty canvas (a blank chart).
SIZED = """sel => { const c = document.querySelector(sel); const ch = c && Chart.getChart(c);
  return !!ch && c.width !== 300
    && c.width === Math.round(ch.width * ch.currentDevicePixelRatio); }"""


def tray(worker: str, line: int, hhmm: str) -> contracts.WorkBatch:
    today = date.today().isoformat()
    event = contracts.WorkEvent(
        line=line,
        ts=f"{today} {hhmm}:00",
        worker=worker,
        process="packing",
        event="TRAY_COMPLETE",
        details={"start_time": f"{today} {hhmm}:00", "work_time": 300 + 10 * line},
    )
    return contracts.WorkBatch(
        source="t",
        path=f"{worker}.csv",
        file_id=f"id:{worker}",
        start=line,
        end=line + 1,
        process="packing",
        worker=worker,
        events=[event],
    )


async def publish(bus: Any, line: int, hhmm: str) -> None:
    for worker in WORKERS:
        await bus.publish(
            contracts.work("packing"), tray(worker, line, hhmm), msg_id=f"{worker}:{line}"
        )


async def settled(page: Any, target: str, after: int) -> None:
    await page.wait_for_function(
        "([id, n]) => (window.swaps[id] || 0) > n", arg=[target, after], timeout=20_000
    )


async def test_charts_survive_live_refresh(
    browser: Any,  # noqa: F811
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with AnalyzerService(settings), running_gateway(settings) as gw:
        await gw.ensure_user("boss", "admin")
        bus = gw.service.bus
        await publish(bus, 2, "03:10")  # before 06 h: nothing for the 06–22 h chart yet
        context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await login(page, gw.url, "boss")
        await page.add_init_script(
            "window.swaps = {}; document.addEventListener('htmx:afterSettle', e => {"
            " const id = e.detail.elt.id; window.swaps[id] = (window.swaps[id] || 0) + 1; });"
        )
        await page.goto(gw.url + "/work")
        await page.wait_for_function("() => document.querySelectorAll('.radar-pick').length === 4")
        # No data in 06–22 h: the chart keeps its axes and says so.
        await page.wait_for_selector("[data-testid=hourly-empty]")
        assert await page.evaluate(SIZED, "[data-testid=hourly-chart]")
        # Compare two workers only.
        await page.uncheck(".radar-pick[aria-label=park]")
        await page.uncheck(".radar-pick[aria-label=lee]")
        summary = await page.evaluate("window.swaps['work-summary'] || 0")
        workers = await page.evaluate("window.swaps['work-workers'] || 0")
        # New work at 08 h → KPI update → SSE → both fragments are swapped in again.
        await publish(bus, 3, "08:05")
        await settled(page, "work-summary", summary)
        await settled(page, "work-workers", workers)
        # The four batches may come in more than one refresh: wait for the last.
        await page.wait_for_function(
            "() => { const c = document.querySelector('[data-testid=hourly-chart]');"
            " const ch = c && Chart.getChart(c);"
            " return !!ch && ch.data.datasets[0].data[2] === 240; }",
            timeout=20_000,
        )
        assert not await page.is_visible("[data-testid=hourly-empty]")
        # The worker table gets the end of the burst too (it only had the throttle's leading
        # edge, and a refresh while one was in flight was dropped: a stale page).
        await page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#worker-table tbody tr'))"
            ".every(r => r.cells[3].innerText === '2')",
            timeout=20_000,
        )
        await page.wait_for_timeout(300)  # past htmx's settle delay (20 ms), where it broke
        assert await page.evaluate(SIZED, "[data-testid=hourly-chart]")
        assert await page.evaluate(SIZED, "[data-testid=worker-radar]")
        picked = await page.evaluate(
            "() => Chart.getChart(document.querySelector('[data-testid=worker-radar]'))"
            ".data.datasets.map(d => d.label).sort()"
        )
        # Exactly the user's pick: not reset by the refresh, not doubled by the old copy.
        assert picked == ["choi", "kim"]
        assert not await page.is_checked(".radar-pick[aria-label=park]")
        await shot(page, "work-after-refresh")
        # Dark theme: the charts' text and grid follow it (Chart.js's are for a light page).
        await page.goto(gw.url + "/ui/theme/dark?next=/work")
        await page.wait_for_selector("[data-testid=worker-radar]")
        assert await page.evaluate("[Chart.defaults.color, Chart.defaults.borderColor]") == [
            "#99a",
            "#2a3038",
        ]
        await shot(page, "work-dark")
        assert errors == []
        await context.close()
