"""The Programs UI in a real browser (Chromium) on a phone: live state, buttons, detail page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

import pytest

from services.core.config import Settings
from services.gateway.auth.middleware import SESSION_COOKIE
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.programs.conftest import Events, Managers, prog

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Generous: CI shares two CPUs between suites, and each wait ends as soon as its condition holds.
UI_TIMEOUT_MS = 20_000
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
            await expect(state).to_have_text("running", timeout=UI_TIMEOUT_MS)
            # The page's SSE stream is registered in the hub: a change made from now on reaches it.
            await wait_for(lambda: gw.service.hub.clients, timeout=UI_TIMEOUT_MS / 1000)
            # Stopped behind the page's back (another operator): the page follows over SSE.
            await manager.runners["labeler"].stop()
            await expect(state).to_have_text("stopped", timeout=UI_TIMEOUT_MS)
            # The Start button: a reply line, and the live state comes back.
            await page.get_by_test_id("start-labeler").click()
            await expect(page.get_by_test_id("cmd-result")).to_contain_text(
                "done", timeout=UI_TIMEOUT_MS
            )
            await expect(state).to_have_text("running", timeout=UI_TIMEOUT_MS)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"page is {width} px wide on a 360 px phone"

            # The chart loads its points once, with the page: wait until there is one to draw.
            runner = manager.runners["labeler"]
            await wait_for(runner.history.day_points, timeout=UI_TIMEOUT_MS / 1000)
            await page.goto(f"{gw.url}/programs/labeler")
            await expect(page.get_by_test_id("detail-state")).to_have_text(
                "running", timeout=UI_TIMEOUT_MS
            )
            await expect(page.get_by_test_id("program-output")).to_contain_text(
                "sleeping", timeout=UI_TIMEOUT_MS
            )
            chart = page.get_by_test_id("program-chart")
            # One point per minute with samples: 1, or 2 when the test straddles a minute.
            await expect(chart).to_have_attribute(
                "data-points", re.compile(r"^[1-9][0-9]*$"), timeout=UI_TIMEOUT_MS
            )
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"detail page is {width} px wide"
        finally:
            await browser.close()
