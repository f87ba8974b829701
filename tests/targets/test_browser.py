"""The Targets UI in a real browser (Chromium) on a phone: live status, test now, admin form."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest

from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.auth.middleware import SESSION_COOKIE
from services.ingest.targets.component import TargetsComponent
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.targets.servers import FakeOpenAI, serve, text_reply

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (bootstrap.py installs it)"
)
KEY = "sk-browser-key-9"


async def test_targets_page_on_a_phone(
    bus: Bus, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import async_playwright, expect

    monkeypatch.setenv("TEST_BROWSER_KEY", KEY)
    fake = FakeOpenAI(KEY)
    state: dict[str, Any] = {"code": 200}
    routes = {**fake.routes(), "/web": lambda h: text_reply("ok", state["code"])}
    with serve(routes) as server:
        settings = make_settings(
            gateway={"port": free_port()},
            ingest={"targets": {"items": [
                {"id": "web", "kind": "http", "url": f"{server.url}/web", "interval_s": 3600},
                {"id": "llm", "kind": "model", "url": f"{server.url}/v1", "interval_s": 3600,
                 "secret_env": "TEST_BROWSER_KEY", "completion": True},
            ]}},
        )  # fmt: skip
        component = TargetsComponent(settings, bus)
        await component.start()
        await bus.serve("ingest", component.endpoints())
        try:
            async with running_gateway(settings) as gw, async_playwright() as pw:
                await gw.ensure_user("test-admin", "admin")
                token = await gw.service.auth.new_session("test-admin", "127.0.0.1")
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    context = await browser.new_context(viewport={"width": 360, "height": 740})
                    await context.add_cookies(
                        [{"name": SESSION_COOKIE, "value": token, "url": gw.url}]
                    )
                    page = await context.new_page()
                    await page.goto(f"{gw.url}/targets")
                    await expect(page.get_by_test_id("status-web")).to_have_text("up")
                    await page.wait_for_timeout(300)  # let the SSE connection open
                    # The site breaks; the next check reaches the open page over SSE.
                    state["code"] = 503
                    await component.runners["web"].run_once()
                    await expect(page.get_by_test_id("status-web")).to_have_text("down")
                    await expect(page.locator('tr[data-target="web"]')).to_contain_text("HTTP 503")
                    # Detail page: test now shows every step and the score.
                    await page.goto(f"{gw.url}/targets/llm")
                    await page.get_by_test_id("test-now").click()
                    await expect(page.get_by_test_id("detail-score")).to_have_text("100/100")
                    await expect(page.get_by_test_id("detail-steps")).to_contain_text("completion")
                    assert KEY not in await page.content()
                    width = await page.evaluate("document.documentElement.scrollWidth")
                    assert width <= 360
                    # The admin form: a bad URL is refused with the field named, then fixed.
                    await page.goto(f"{gw.url}/targets")
                    form = page.get_by_test_id("target-form")
                    await form.locator('input[name="id"]').fill("shop")
                    await form.locator('input[name="url"]').fill("not a url")
                    await form.get_by_test_id("target-save").click()
                    await expect(page.get_by_test_id("form-error")).to_contain_text("url:")
                    form = page.get_by_test_id("target-form")
                    await form.locator('input[name="url"]').fill(f"{server.url}/web")
                    await form.get_by_test_id("target-save").click()
                    await page.wait_for_url(f"{gw.url}/targets/shop")
                    assert "shop" in component.runners
                    width = await page.evaluate("document.documentElement.scrollWidth")
                    assert width <= 360
                finally:
                    await browser.close()
        finally:
            await component.stop()
