"""The Programs UI in a real browser (Chromium) on a phone: live state, buttons, detail page."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from services.core.config import Settings
from services.gateway.auth.middleware import SESSION_COOKIE
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.programs.conftest import Events, Managers, prog

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (bootstrap.py does)"),
]


async def test_programs_page_on_a_phone(
    make_settings: Callable[..., Settings], managers: Managers, events: Events
) -> None:
    from playwright.async_api import async_playwright, expect

    manager = await managers.start(prog("labeler", "sleep", name="Label printer"))
    await events.wait_state("labeler", "running")
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw, async_playwright() as pw:
        await gw.ensure_user("test-operator", "operator")
        token = await gw.service.auth.new_session("test-operator", "127.0.0.1")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 360, "height": 740})
            await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": gw.url}])
            page = await context.new_page()
            await page.goto(f"{gw.url}/programs")
            state = page.get_by_test_id("state-labeler")
            await expect(state).to_have_text("running")
            await page.wait_for_timeout(300)  # let the SSE connection open
            # Stopped behind the page's back (another operator): the page follows over SSE.
            await manager.runners["labeler"].stop()
            await expect(state).to_have_text("stopped")
            # The Start button: a reply line, and the live state comes back.
            await page.get_by_test_id("start-labeler").click()
            await expect(page.get_by_test_id("cmd-result")).to_contain_text("done")
            await expect(state).to_have_text("running")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"page is {width} px wide on a 360 px phone"

            await page.goto(f"{gw.url}/programs/labeler")
            await expect(page.get_by_test_id("detail-state")).to_have_text("running")
            await expect(page.get_by_test_id("program-output")).to_contain_text("sleeping")
            chart = page.get_by_test_id("program-chart")
            await expect(chart).to_have_attribute("data-points", "1", timeout=10_000)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"detail page is {width} px wide"
        finally:
            await browser.close()
