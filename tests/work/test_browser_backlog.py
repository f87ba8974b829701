"""The Work page in a real chromium tells a catching-up analyzer apart from an idle one.

A real SQLite write lock on the analyzer's file holds a backlog in place while the page
loads; once it is released the banner goes away by itself, without a reload.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from services.analyzer.service import AnalyzerService
from services.core import contracts
from services.core.config import Settings
from tests.browser.conftest import browser, shot  # noqa: F401  (fixture)
from tests.browser.test_shell import login
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.work.helpers import event_batch

pytestmark = pytest.mark.browser


async def test_catching_up_banner_comes_and_goes(
    browser: Any,  # noqa: F811
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with AnalyzerService(settings) as analyzer, running_gateway(settings) as gw:
        work = analyzer.work
        assert work is not None
        await gw.ensure_user("boss", "viewer")
        bus = gw.service.bus
        context = await browser.new_context(locale="ko-KR", viewport={"width": 360, "height": 780})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await login(page, gw.url, "boss")
        await page.goto(gw.url + "/work")
        banner = page.locator("[data-testid=work-backlog]")
        assert await banner.count() == 0  # nothing to catch up with
        # Held briefly: the analyzer's commit gives up after its 5 s busy timeout.
        lock = sqlite3.connect(settings.data_path / "analyzer-work.sqlite", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the analyzer's first commit waits on this
        try:
            for start in range(0, 1500, 500):
                await asyncio.gather(*(_publish(bus, i) for i in range(start, start + 500)))
            await wait_for(lambda: work.backlog >= 1000, timeout=20)
            await page.reload()
            await banner.wait_for(timeout=15000)
            assert "따라잡는 중" in await banner.inner_text()
            shown = int(
                (await page.inner_text("[data-testid=work-backlog-count]")).replace(",", "")
            )
            assert shown > 0
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await shot(page, "work-backlog-phone-ko")
        await banner.wait_for(state="detached", timeout=20000)  # caught up: gone, no reload
        assert work.backlog == 0
        assert errors == []
        await context.close()


async def _publish(bus: Any, i: int) -> None:
    batch = event_batch("inspection", "lee", f"2026-11-03 09:{i // 60 % 60:02d}:00", "SCAN_OK",
                        {"barcode": f"C{i}"}, 2, path=f"c{i}.csv")  # fmt: skip
    await bus.publish(contracts.work("inspection"), batch, msg_id=f"bl-{i}")
