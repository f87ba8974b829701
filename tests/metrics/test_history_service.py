"""End to end over a real nats-server: host collector → VIGIL_METRIC → history → RPC queries."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import pytest

from services.analyzer.history.component import HistoryComponent
from services.core import contracts
from services.core.bus import Bus, RpcError
from services.core.config import Settings
from services.core.contracts import MetricBatch, MetricSample
from services.ingest.collectors.scheduler import CollectorScheduler
from tests.conftest import wait_for


async def _ask(bus: Bus, method: str, payload: dict) -> dict:
    return msgspec.json.decode(
        await bus.request(contracts.api("analyzer", method), payload, timeout=10)
    )


async def test_collected_metrics_reach_the_history(
    bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        ingest={"collectors": {"host": {"interval_s": 1.0}, "gpu": {"enabled": False}}},
    )
    history = HistoryComponent(settings, bus)
    await history.start()
    await bus.serve("analyzer", history.endpoints())
    scheduler = CollectorScheduler(settings.ingest.collectors, bus, settings.host)
    await scheduler.start()
    try:

        async def has_cpu() -> bool:
            got = await _ask(bus, "metric_query", {"name": "cpu.percent", "range_s": 600})
            return bool(got["series"]) and sum(got["series"][0]["points"]["count"]) >= 2

        await wait_for(has_cpu, timeout=20, step=0.3)
        got = await _ask(
            bus, "metric_query", {"name": "cpu.percent", "host": "testhost", "range_s": 600}
        )
        assert got["tier"] == "raw"
        one = got["series"][0]
        assert one["host"] == "testhost" and one["group"] == "host"
        assert all(0 <= v <= 100 for v in one["points"]["avg"])
        series = await _ask(bus, "metric_series", {"name": "disk.used_percent"})
        assert series["series"] and "mount" in series["series"][0]["labels"]
        window = await _ask(
            bus, "metric_window", {"name": "mem.percent", "window_s": 60, "reducer": "max"}
        )
        assert 0 < window["series"][0]["value"] <= 100
        summary = await _ask(bus, "metric_summary", {"name": "mem.total_bytes", "range_s": 600})
        assert summary["series"][0]["summary"]["current"] > 0
    finally:
        await scheduler.stop()
        await history.stop()


async def test_pushed_batches_over_nats_bad_samples_counted(
    bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    history = HistoryComponent(make_settings(), bus)
    await history.start()
    await bus.serve("analyzer", history.endpoints())
    try:
        reg = await _ask(
            bus, "metric_register_plugin", {"plugin_id": "my_plugin", "plugin_name": "내 플러그인"}
        )
        assert reg["created"] is True
        with pytest.raises(RpcError) as bad:
            await _ask(bus, "metric_register_plugin", {"plugin_id": "bad id!"})
        assert bad.value.code == 400 and "plugin_id" in bad.value.description
        now = time.time() - 1
        batch = MetricBatch(
            host="pc7",
            group="plugin",
            ts=now - 1,
            samples=[
                MetricSample(name="cpu_usage", value=45.2, labels={"plugin": "my_plugin"}),
                MetricSample(name="Response Time", value=1.2, labels={"plugin": "my_plugin"}),
            ],
        )
        await bus.publish(contracts.metric("pc7", "plugin"), batch, msg_id="push-1")
        # A payload that is not a MetricBatch at all: dead-lettered, the consumer goes on.
        await bus.js.publish("vigil.metric.pc7.plugin", b'{"schema": "nonsense"}')
        await bus.publish(
            contracts.metric("pc7", "plugin"),
            MetricBatch(
                host="pc7",
                group="plugin",
                ts=now,
                samples=[
                    MetricSample(name="cpu_usage", value=50.0, labels={"plugin": "my_plugin"})
                ],
            ),
            msg_id="push-2",
        )

        async def stored() -> bool:
            stats = await _ask(bus, "metric_stats", {})
            return stats["samples_accepted"] >= 2 and stats["samples_rejected"] >= 1

        await wait_for(stored, timeout=15, step=0.2)
        stats = await _ask(bus, "metric_stats", {})
        assert stats["samples_rejected"] == 1
        assert any("lowercase" in reason for reason in stats["rejected_by_reason"])
        plugins = await _ask(bus, "metric_plugins", {})
        assert plugins["plugins"][0]["plugin_id"] == "my_plugin"
        assert plugins["plugins"][0]["samples"] == 2
        # The history consumes through this bus: the nonsense payload was dead-lettered.
        assert bus.dead_letters == 1
        got = await _ask(
            bus, "metric_query", {"name": "cpu_usage", "labels": {"plugin": "my_plugin"}}
        )
        assert got["series"][0]["points"]["last"][-1] == 50.0
        with pytest.raises(RpcError) as err:
            await _ask(bus, "metric_query", {"name": "x", "tier": "5m"})
        assert err.value.code == 400
    finally:
        await history.stop()
