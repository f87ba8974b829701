"""The Alerts UI in a real browser (Chromium): live toast and badge over SSE, ack on a phone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from services.core.bus import Bus
from services.gateway.auth.middleware import SESSION_COOKIE
from tests.alerts.helpers import FakeClock, alert_settings, capture, running, send_metric
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (bootstrap.py installs it)"
)


async def test_toast_badge_and_ack_in_a_phone_sized_browser(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    from playwright.async_api import async_playwright, expect

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "- name: oven-hot\n  condition: 'temp > 50'\n  severity: critical\n"
        "  summary: Oven too hot\n",
        encoding="utf-8",
    )
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with (
        capture(bus) as seen,
        running(settings, clock, bus),
        running_gateway(make_settings(gateway={"port": free_port()})) as gw,
        async_playwright() as pw,
    ):
        await gw.ensure_user("test-operator", "operator")
        token = await gw.service.auth.new_session("test-operator", "127.0.0.1")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 360, "height": 740})
            await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": gw.url}])
            page = await context.new_page()
            await page.goto(f"{gw.url}/alerts")
            await expect(page.get_by_test_id("alerts-none")).to_be_visible()
            await page.wait_for_timeout(300)  # let the SSE connection open
            await send_metric(bus, "temp", 90, clock(), oven="o1")
            await seen.wait_state("firing")
            toast = page.get_by_test_id("alert-toast").first
            await expect(toast).to_contain_text("oven-hot")
            await expect(page.get_by_test_id("alert-badge")).to_contain_text("1")
            row = page.locator('tr[data-fingerprint][data-rule="oven-hot"]')
            await expect(row).to_contain_text("oven=o1")
            await row.get_by_test_id("ack").click()
            await expect(
                page.locator('tr[data-fingerprint][data-rule="oven-hot"]')
            ).to_contain_text("test-operator")
            await seen.wait_state("acknowledged")
            # Nothing overflows sideways on a phone.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360
        finally:
            await browser.close()
