"""Metrics over REST through a real gateway: push (operator only), bad input, queries, pages."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.analyzer.history.component import HistoryComponent
from services.core.bus import Bus
from services.core.config import Settings
from services.core.contracts import ServiceHealth
from tests.conftest import free_port, wait_for
from tests.gateway_harness import RunningGateway, running_gateway

PROBLEM = "application/problem+json"


@pytest.fixture
async def stack(bus: Bus, make_settings: Callable[..., Settings]) -> AsyncIterator[RunningGateway]:
    settings = make_settings(gateway={"port": free_port()})
    history = HistoryComponent(settings, bus)
    await history.start()

    async def health(_data: bytes) -> ServiceHealth:  # what VigilService answers
        return ServiceHealth(
            service="analyzer", ok=True, pid=os.getpid(), uptime_s=1.0, detail=history.stats()
        )

    await bus.serve("analyzer", {"health": health, **history.endpoints()})
    try:
        async with running_gateway(settings) as gw:
            yield gw
    finally:
        await history.stop()


async def _points(client: Any, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/metrics/query", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_push_query_and_roles(stack: RunningGateway) -> None:
    operator = await stack.client("operator", via="api_key")
    viewer = await stack.client("viewer", via="api_key")
    anonymous = await stack.client(None)
    sample = {"samples": [{"name": "queue.depth", "value": 3, "labels": {"queue": "a"}}]}

    assert (await anonymous.post("/api/v1/metrics", json=sample)).status_code == 401
    denied = await viewer.post("/api/v1/metrics", json=sample)
    assert denied.status_code == 403 and denied.headers["content-type"].startswith(PROBLEM)

    r = await operator.post(
        "/api/v1/metrics", json={**sample, "host": "pc7", "ts": time.time() - 5}
    )
    assert r.status_code == 202, r.text
    assert r.json() == {
        "accepted": 1,
        "subject": "vigil.metric.pc7.push",
        "ts": pytest.approx(time.time() - 5, abs=2),
    }

    async def stored() -> bool:
        got = await _points(viewer, name="queue.depth", host="pc7")
        return bool(got["series"])

    await wait_for(stored, timeout=15, step=0.2)
    got = await _points(viewer, name="queue.depth", label="queue=a", range="1h")
    assert got["tier"] == "raw" and got["series"][0]["points"]["last"] == [3.0]
    series = (await viewer.get("/api/v1/metrics/series", params={"host": "pc7"})).json()
    assert [s["name"] for s in series["series"]] == ["queue.depth"]


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        ({"samples": [{"name": "Bad Name", "value": 1}]}, "samples[0]", "lowercase"),
        (
            {"samples": [{"name": "ok", "value": 1}, {"name": "x", "value": "NaN"}]},
            "samples[1]",
            "not a number",
        ),
        ('{"samples": [{"name": "ok", "value": 1e999}]}', "samples[0]", "not finite"),
        ('{"samples": [{"name": "ok", "value": NaN}]}', "samples[0]", "not finite"),
        ("{not json", "", "not valid JSON"),
        (
            {"samples": [{"name": "ok", "value": 1, "labels": {f"k{i}": "v" for i in range(17)}}]},
            "samples[0]",
            "at most 16",
        ),
        (
            {"samples": [{"name": "ok", "value": 1, "labels": {"k": "v" * 300}}]},
            "samples[0]",
            "at most 256",
        ),
        ({"samples": [{"name": "ok", "value": 1}], "ts": 1.0}, "", "last 24 h"),
        ({"samples": [{"name": "ok", "value": 1}], "host": "a.b"}, "", "host"),
        ({"samples": "x"}, "", "samples"),
    ],
)
async def test_bad_pushes_are_refused_with_the_reason(
    stack: RunningGateway, body: dict[str, Any] | str, key: str, reason: str
) -> None:
    operator = await stack.client("operator", via="api_key")
    if isinstance(body, str):  # raw text: JSON that Python's encoder would not write
        headers = {"content-type": "application/json"}
        r = await operator.post("/api/v1/metrics", content=body, headers=headers)
    else:
        r = await operator.post("/api/v1/metrics", json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert reason in problem["detail"]
    if key:
        assert problem["errors"][0]["key"] == key
    assert "Traceback" not in r.text
    # Nothing of a refused request is stored.
    got = await _points(operator, name="ok")
    assert got["series"] == []


async def test_plugins_register_then_push_seed_form(stack: RunningGateway) -> None:
    operator = await stack.client("operator")  # a browser session works too
    body = {"plugin_id": "my_plugin", "metrics": {"cpu_usage": 45.2, "error_count": 3}}
    unknown = await operator.post("/api/v1/metrics", json=body)
    assert unknown.status_code == 404 and "not registered" in unknown.json()["detail"]
    reg = await operator.post(
        "/api/v1/metrics/plugins", json={"plugin_id": "my_plugin", "plugin_name": "내 플러그인"}
    )
    assert reg.status_code == 201 and reg.json()["created"] is True
    bad = await operator.post("/api/v1/metrics/plugins", json={"plugin_id": "no spaces"})
    assert bad.status_code == 400 and "plugin_id" in bad.json()["detail"]
    r = await operator.post("/api/v1/metrics", json=body)
    assert r.status_code == 202 and r.json()["accepted"] == 2

    async def counted() -> bool:
        plugins = (await operator.get("/api/v1/metrics/plugins")).json()["plugins"]
        return plugins[0]["samples"] == 2

    await wait_for(counted, timeout=15, step=0.2)
    got = await _points(operator, name="cpu_usage", label="plugin=my_plugin")
    assert got["series"][0]["labels"] == {"plugin": "my_plugin"}
    export = await operator.get(
        "/api/v1/metrics/export", params={"name": "error_count", "format": "csv"}
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "error_count,plugin=my_plugin" in export.text
    trend = await operator.get("/api/v1/metrics/trend", params={"name": "cpu_usage"})
    assert trend.json()["series"][0]["trend"]["direction"] == "stable"
    bad_range = await operator.get("/api/v1/metrics/query", params={"name": "x", "range": "soon"})
    assert bad_range.status_code == 400 and "range" in bad_range.json()["detail"]


async def test_prometheus_exposition_and_pages(stack: RunningGateway) -> None:
    operator = await stack.client("operator", via="api_key")
    r = await operator.post(
        "/api/v1/metrics",
        json={
            "host": "pc9",
            "samples": [
                {"name": "disk.used_percent", "value": 71.5, "labels": {"mount": "/"}},
                {"name": "cpu.percent", "value": 12.0},
            ],
        },
    )
    assert r.status_code == 202

    async def exposed() -> str:
        text = (await operator.get("/metrics")).text
        return text if 'disk_used_percent{host="pc9",mount="/"} 71.5' in text else ""

    text = await wait_for(exposed, timeout=15, step=0.3)
    assert "# TYPE disk_used_percent gauge" in text
    assert 'vigil_stream_messages{stream="VIGIL_METRIC"}' in text
    assert 'vigil_consumer_pending{consumer="analyzer-history",stream="VIGIL_METRIC"} 0' in text
    assert 'vigil_service_up{service="analyzer"} 1' in text
    assert 'vigil_errors_dead_letters_total{service="analyzer"} 0' in text
    assert 'vigil_metric_samples_total{result="accepted"} 2' in text
    assert "vigil_analyzer_samples_rejected 0" in text

    viewer = await stack.client("viewer")
    page = await viewer.get("/metrics", params={"host": "pc9"}, headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-testid="series-select"' in page.text and "disk.used_percent" in page.text
    sid = (await viewer.get("/api/v1/metrics/series", params={"name": "cpu.percent"})).json()[
        "series"
    ][0]["id"]
    chart = await viewer.get(
        "/ui/fragments/metrics/chart", params={"series_id": sid, "range": "24h"}
    )
    assert chart.status_code == 200 and 'data-testid="trend-badge"' in chart.text
    gauges = await viewer.get("/ui/fragments/gauges", params={"host": "pc9"})
    assert 'data-testid="gauge-disk-value">72%' in gauges.text
    assert 'data-testid="gauge-cpu-value">12%' in gauges.text
    overview = await viewer.get("/", headers={"accept": "text/html"})
    assert 'id="production"' in overview.text and 'hx-trigger="sse:kpi"' in overview.text
    assert 'hx-get="/ui/fragments/programs"' in overview.text
    anonymous = await stack.client(None)
    assert (await anonymous.get("/metrics")).status_code == 401
