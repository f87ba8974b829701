"""The cached KPI endpoint: one analyzer query per change, ETag/304, dropped on a KPI event."""

from __future__ import annotations

from collections.abc import Callable

from services.analyzer.service import AnalyzerService
from services.core import contracts
from services.core.config import Settings
from tests.browser.test_shell import tray
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway


async def test_kpi_today_cached_and_invalidated(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port(), "cache_ttl_s": 600})
    async with AnalyzerService(settings), running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        first = await viewer.get("/api/v1/kpi/today")
        assert first.status_code == 200, first.text
        etag = first.headers["etag"]
        assert first.json()["processes"]["packing"]["events"] == 0
        cache = gw.service.state.cache
        for _ in range(5):
            again = await viewer.get("/api/v1/kpi/today")
            assert again.headers["etag"] == etag
        assert cache.misses == 1 and cache.hits == 5
        r = await viewer.get("/api/v1/kpi/today", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b""
        # New work → the analyzer publishes a KpiUpdate → the cached answer is dropped.
        await gw.service.bus.publish(contracts.work("packing"), tray("kim", 2), msg_id="k:2")

        async def fresh() -> bool:
            r = await viewer.get("/api/v1/kpi/today")
            return bool(r.json()["processes"]["packing"]["events"] == 1)

        await wait_for(fresh, timeout=15)
        changed = await viewer.get("/api/v1/kpi/today", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_kpi_today_without_analyzer_is_503(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        r = await (await gw.client("viewer")).get("/api/v1/kpi/today")
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "analyzer unavailable" in r.json()["detail"]
