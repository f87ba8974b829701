"""The Metrics page and the Overview gauges in a real browser (Chromium) on a 360 px phone."""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any

import pytest

from services.analyzer.history.component import HistoryComponent
from services.core import contracts
from services.core.bus import Bus
from services.core.contracts import MetricBatch, MetricSample, ServiceHealth
from services.gateway.auth.middleware import SESSION_COOKIE
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (bootstrap.py installs it)"
)


async def _publish(bus: Bus, ts: float, cpu: float, disk: float) -> None:
    batch = MetricBatch(
        host="pc1",
        group="host",
        ts=ts,
        samples=[
            MetricSample(name="cpu.percent", value=cpu),
            MetricSample(name="mem.percent", value=40.0),
            MetricSample(name="disk.used_percent", value=disk, labels={"mount": "/"}),
        ],
    )
    await bus.publish(contracts.metric("pc1", "host"), batch, msg_id=f"b-{ts}")


async def test_metrics_page_and_live_gauges_on_a_phone(make_settings: Any, bus: Bus) -> None:
    from playwright.async_api import async_playwright, expect

    settings = make_settings(gateway={"port": free_port()})
    history = HistoryComponent(settings, bus)
    await history.start()

    async def health(_data: bytes) -> ServiceHealth:
        return ServiceHealth(service="analyzer", ok=True, pid=os.getpid(), uptime_s=1.0)

    await bus.serve("analyzer", {"health": health, **history.endpoints()})
    now = time.time()
    for i in range(120):  # two hours, one batch a minute, the disk filling up
        await _publish(bus, now - 7200 + i * 60, 20 + (i % 10), 50 + i * 0.1)
    await wait_for(lambda: history.writer and history.writer.totals["accepted"] >= 360, timeout=20)
    try:
        async with running_gateway(settings) as gw, async_playwright() as pw:
            await gw.ensure_user("test-viewer", "viewer")
            token = await gw.service.auth.new_session("test-viewer", "127.0.0.1")
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(viewport={"width": 360, "height": 740})
                await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": gw.url}])
                page = await context.new_page()
                await page.goto(f"{gw.url}/metrics?host=pc1&range=24h")
                card = page.get_by_test_id("metric-card")
                await expect(card).to_contain_text("cpu.percent")
                await expect(page.get_by_test_id("trend-badge")).to_be_visible()
                await expect(page.get_by_test_id("heatmap")).to_be_visible()
                drawn = await page.evaluate(
                    "() => { const c = document.querySelector('[data-testid=metric-canvas]');"
                    " return !!(c && c._chart && c._chart.data.datasets[0].data.length); }"
                )
                assert drawn, "the chart was drawn with points"
                assert await page.evaluate("document.documentElement.scrollWidth") <= 360
                # Pick the disk series: the forecast (time until full) appears.
                await page.get_by_test_id("series-select").select_option(
                    label="disk.used_percent {mount=/}"
                )
                card = page.get_by_test_id("metric-card")
                await expect(card).to_contain_text("disk.used_percent")
                fragment = await page.evaluate(
                    "fetch(document.querySelector('#metric-chart').getAttribute('hx-get'))"
                    ".then(r => r.text())"
                )
                assert 'data-testid="forecast"' in fragment, fragment[:3000]
                await expect(page.get_by_test_id("forecast")).to_contain_text(" d", timeout=15_000)

                # Narrow to a group: the form drops the old series and shows the group's first.
                await page.get_by_test_id("group-select").select_option("host")
                await expect(page).to_have_url(re.compile(r"group=host"))
                await expect(page.get_by_test_id("metric-card")).to_be_visible()
                hosts = await page.get_by_test_id("host-select").locator("option").all_inner_texts()
                assert hosts == ["pc1"]

                await page.goto(f"{gw.url}/?host=pc1")
                value = page.get_by_test_id("gauge-cpu-value")
                await expect(value).to_have_text("29%")
                assert await page.evaluate("document.documentElement.scrollWidth") <= 360
                await page.wait_for_timeout(500)  # let the SSE connection open
                await _publish(bus, time.time(), 87.0, 63.0)
                await expect(value).to_have_text("87%", timeout=15_000)
            finally:
                await browser.close()
    finally:
        await history.stop()
