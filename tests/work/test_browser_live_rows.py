"""The Work page's live row feed in chromium: a row appended to a watched file shows up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.analyzer.service import AnalyzerService
from services.core.bus import Bus
from services.core.config import Settings
from tests.browser.conftest import browser, shot  # noqa: F401  (fixture)
from tests.browser.test_shell import EVIL, login
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.ingest.helpers import HEADER, running_ingest, stored

pytestmark = pytest.mark.browser
FEED = "[data-testid=live-rows] tbody"


def _row(day: str, hh_mm_ss: str, worker: str, event: str = "SCAN_OK") -> str:
    return f"{day} {hh_mm_ss},{worker},{event},PHS=1\n"


async def test_appended_row_appears_in_the_live_feed_escaped(
    tmp_path: Path,
    bus: Bus,
    browser: Any,  # noqa: F811
    make_settings: Callable[..., Settings],
) -> None:
    day = date.today()
    folder = tmp_path / "watch"
    folder.mkdir()
    packing = folder / f"포장실작업이벤트로그_kim_{day:%Y%m%d}.csv"
    packing.write_text(HEADER + _row(day.isoformat(), "07:00:00", "kim"), encoding="utf-8")
    inspection = folder / f"검사작업이벤트로그_lee_{day:%Y%m%d}.csv"
    source = {"name": "work", "path": str(folder), "parser": "work"}
    settings = make_settings(gateway={"port": free_port()}, ingest={"sources": [source]})
    async with (
        AnalyzerService(settings),
        running_gateway(settings) as gw,
        running_ingest(settings, bus) as files,
    ):
        await gw.ensure_user("floor", "viewer")
        # The backfilled row is stored before any page listens: it is counted, not fed.
        await wait_for(lambda: stored(bus, "VIGIL_WORK"), timeout=15)
        context = await browser.new_context(locale="en-US", viewport={"width": 360, "height": 780})
        page = await context.new_page()
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: dialogs.append(d.message))
        await login(page, gw.url, "floor")
        await page.goto(gw.url + "/work")
        only_inspection = await context.new_page()
        only_inspection.on("pageerror", lambda e: errors.append(str(e)))
        await only_inspection.goto(gw.url + "/work?process=inspection")
        # The counter starts from the analyzer's count of today's rows (the backfilled one).
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=rows-today]').innerText.trim() === '1'",
            timeout=15000,
        )
        assert await page.locator(f"{FEED} tr").count() == 0
        assert await page.is_visible("[data-testid=live-empty]")
        assert files.tailers[0].backfilled.is_set()

        # A row whose worker is markup: shown as text, never run.
        with packing.open("a", encoding="utf-8") as f:
            f.write(_row(day.isoformat(), "08:15:30", EVIL, "TRAY_START"))
        first = page.locator(f"{FEED} tr").first
        await first.wait_for(timeout=15000)
        cells = await first.locator("td").all_inner_texts()
        assert cells == ["08:15:30", EVIL, "TRAY_START", "Packing"]
        assert await page.locator(f"{FEED} script").count() == 0
        assert await page.is_hidden("[data-testid=live-empty]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=rows-today]').innerText.trim() === '2'",
            timeout=15000,
        )

        # Newest first; the process filter of the page applies to the feed and the counter.
        inspection.write_text(
            HEADER + _row(day.isoformat(), "08:16:00", "lee", "INSPECT_OK"), encoding="utf-8"
        )
        await page.wait_for_function(
            f"() => document.querySelectorAll('{FEED} tr').length === 2", timeout=15000
        )
        newest = await page.locator(f"{FEED} tr").first.locator("td").all_inner_texts()
        assert newest == ["08:16:00", "lee", "INSPECT_OK", "Inspection"]
        rows = only_inspection.locator(f"{FEED} tr")
        await rows.first.wait_for(timeout=15000)
        # Its stream carried the packing batches first (same stream, in order): none shown.
        assert await rows.count() == 1
        assert (await rows.first.locator("td").all_inner_texts())[1] == "lee"
        await only_inspection.wait_for_function(
            "() => document.querySelector('[data-testid=rows-today]').innerText.trim() === '1'",
            timeout=15000,
        )
        await shot(page, "work-live-rows-phone")
        # The feed fits a phone: the page itself never scrolls sideways.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360 + 1
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=rows-today]').innerText.trim() === '3'",
            timeout=15000,
        )
        assert errors == [] and dialogs == []
        await context.close()
