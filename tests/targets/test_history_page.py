"""End to end: target checks → vigil.metric → analyzer history → the target's history chart."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import msgspec

from services.analyzer.history.component import HistoryComponent
from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.targets.component import TargetsComponent
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.targets.servers import serve, text_reply


async def test_detail_chart_reads_the_analyzer_history(
    bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    with serve({"/ok": lambda h: text_reply("ok")}) as server:
        settings = make_settings(
            gateway={"port": free_port()},
            analyzer={"history": {"flush_interval_s": 0.2}},
            ingest={"targets": {"items": [
                {"id": "web", "kind": "http", "url": f"{server.url}/ok", "interval_s": 1}
            ]}},
        )  # fmt: skip
        history = HistoryComponent(settings, bus)
        await history.start()
        await bus.serve("analyzer", history.endpoints())
        targets = TargetsComponent(settings, bus)
        await targets.start()
        await bus.serve("ingest", targets.endpoints())
        try:

            async def stored() -> bool:
                answer = msgspec.json.decode(
                    await bus.request(
                        contracts.api("analyzer", "metric_query"),
                        {"name": "http.response_ms", "labels": {"target": "web"}, "range_s": 600},
                    )
                )
                return bool(answer["series"]) and sum(answer["series"][0]["points"]["count"]) >= 2

            await wait_for(stored, timeout=20, step=0.3)
            async with running_gateway(settings) as gw:
                viewer = await gw.client("viewer")
                page = await viewer.get("/targets/web?range=1h")
            assert page.status_code == 200
            assert 'data-source="analyzer"' in page.text
            raw = re.search(r"data-stored='([^']*)'", page.text)
            assert raw is not None
            points = json.loads(raw.group(1).replace("&#34;", '"').replace("&quot;", '"'))
            assert len(points["ts"]) >= 1 and all(v > 0 for v in points["avg"] if v is not None)
        finally:
            await targets.stop()
            await history.stop()
