"""The UI shell in a real chromium: log in, a live SSE update, language, a phone, escaping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from services.analyzer.service import AnalyzerService
from services.core import contracts
from services.core.config import Settings
from tests.browser.conftest import shot
from tests.conftest import free_port
from tests.gateway_harness import TEST_PASSWORD, running_gateway

pytestmark = pytest.mark.browser
EVIL = "<script>alert(1)</script>"


async def login(page: Any, url: str, name: str) -> None:
    await page.goto(url + "/")
    assert "/login" in page.url  # not logged in yet: sent to the form
    await page.fill("#name", name)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(url + "/")


def tray(worker: str, line: int) -> contracts.WorkBatch:
    today = date.today().isoformat()
    event = contracts.WorkEvent(
        line=line,
        ts=f"{today} 08:05:00",
        worker=worker,
        process="packing",
        event="TRAY_COMPLETE",
        details={"start_time": f"{today} 08:00:00", "work_time": 300},
    )
    return contracts.WorkBatch(
        source="t",
        path="w.csv",
        file_id="id:w.csv",
        start=line,
        end=line + 1,
        process="packing",
        worker=worker,
        events=[event],
    )


async def test_login_live_update_language(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with AnalyzerService(settings), running_gateway(settings) as gw:
        await gw.ensure_user("ops", "operator")
        context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        await page.goto(gw.url + "/")
        await page.fill("#name", "ops")
        await page.fill("#password", "wrong-password!")
        await page.click("[data-testid=login-submit]")
        assert "Wrong user name or password" in await page.inner_text("[data-testid=login-error]")
        await login(page, gw.url, "ops")
        assert "ops" in await page.inner_text("[data-testid=who]")
        tile = page.locator("[data-testid=events-packing]")
        await tile.wait_for()
        before = int(await tile.inner_text())
        await shot(page, "overview-before")
        # Work arrives on NATS → analyzer → KpiUpdate → SSE → the tile refreshes by itself.
        bus = gw.service.bus
        for line in (2, 3):
            batch = tray(EVIL, line)
            await bus.publish(contracts.work("packing"), batch, msg_id=f"w:{line}")
        await page.wait_for_function(
            "n => Number(document.querySelector('[data-testid=events-packing]').innerText) >= n",
            arg=before + 2,
            timeout=15000,
        )
        await shot(page, "overview-live-update")
        # Switch language: the navigation reads Korean, and the choice sticks.
        await page.click("[data-testid=lang-switch]")
        await page.wait_for_function("document.documentElement.lang === 'ko'")
        assert await page.inner_text("[data-nav=overview]") == "개요"
        await page.goto(gw.url + "/settings")
        assert await page.inner_text("[data-nav=settings]") == "설정"
        await shot(page, "settings-korean")
        # A hostile worker name never ran as a script anywhere we went.
        for path in ("/", "/work", "/settings"):
            await page.goto(gw.url + path)
        assert dialogs == []
        await context.close()


async def test_phone_viewport_and_admin_settings(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        await gw.ensure_user("boss", "admin")
        context = await browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
        )
        page = await context.new_page()
        await login(page, gw.url, "boss")
        for path in ("/", "/settings", "/settings/audit", "/alerts", "/programs"):
            await page.goto(gw.url + path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width} px wide on a 360 px phone"
            await shot(page, "phone" + path.replace("/", "-"))
        # Create an API key from the phone: shown once, then listed without the secret.
        await page.goto(gw.url + "/settings")
        await page.fill("#key-name", "scanner")
        await page.click("[data-testid=key-create] button")
        secret = await page.inner_text("[data-testid=new-key]")
        assert secret.startswith("vk_")
        await page.reload()
        assert secret not in await page.content()
        assert "scanner" in await page.inner_text("[data-testid=keys]")
        # Dark theme by choice.
        await page.goto(gw.url + "/ui/theme/dark?next=/settings")
        assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 18, 22)"
        await shot(page, "phone-settings-dark")
        await context.close()
