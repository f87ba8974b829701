"""The work analytics over a real nats-server: durable consumer, RPC, KpiUpdate, restarts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import pytest

from services.analyzer.service import AnalyzerService
from services.analyzer.work.component import WorkAnalytics
from services.core import contracts
from services.core.bus import Bus, RpcError
from services.core.config import NatsSettings, Settings
from tests.conftest import wait_for
from tests.work import gen
from tests.work.helpers import settings as analyzer_settings
from tests.work.helpers import tray


@asynccontextmanager
async def running(nats_url: str, data: Path, **kw: Any) -> AsyncIterator[WorkAnalytics]:
    """The work component as the analyzer runs it: its own bus, consumer, RPC, publisher."""
    bus = await Bus.connect(NatsSettings(url=nats_url), "analyzer")
    await bus.ensure_streams()
    work = WorkAnalytics(data, analyzer_settings(**kw))
    await work.start(bus)
    await bus.serve("analyzer", work.endpoints())
    await bus.nc.flush()
    publisher = asyncio.create_task(work.publish_loop())
    try:
        yield work
    finally:
        publisher.cancel()
        await work.close()
        await bus.close()


async def ask(bus: Bus, method: str, payload: dict[str, Any] | None = None) -> Any:
    subject = contracts.api("analyzer", method)
    for _ in range(50):
        try:
            return msgspec.json.decode(await bus.request(subject, payload or {}))
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.05)  # the micro endpoint is still subscribing
    raise AssertionError(f"no analyzer answers {subject}")


async def publish(bus: Bus, batches: list[contracts.WorkBatch], tag: str = "") -> None:
    for b in batches:
        await bus.publish(contracts.work(b.process), b, msg_id=f"{tag}{b.file_id}:{b.start}")


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal, numbers up to float summation order."""
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float):
            assert math.isclose(value, b[key], rel_tol=1e-12, abs_tol=1e-12), key
        else:
            assert value == b[key], key


async def drained(bus: Bus) -> None:
    """Wait until the analyzer's durable consumer has acknowledged everything in the stream."""

    async def done() -> bool:
        try:
            info = await bus.js.consumer_info("VIGIL_WORK", "analyzer-work")
        except nats.js.errors.NotFoundError:
            return False  # the consumer binds in the background
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(done, timeout=30, step=0.05)


async def _wait_trays(bus: Bus, n: int, **flt: Any) -> dict[str, Any]:
    async def enough() -> Any:
        got = await ask(bus, "work_kpis", flt)
        return got if got["kpis"]["total_trays"] >= n else None

    return await wait_for(enough, timeout=15)


async def test_live_numbers_kpi_updates_and_work_today(
    bus: Bus, nats_url: str, tmp_path: Path
) -> None:
    today = date.today().isoformat()
    updates: list[contracts.KpiUpdate] = []

    async def on_kpi(msg: Any) -> None:
        updates.append(bus.codec.decode_as(msg.data, contracts.KpiUpdate))

    await bus.nc.subscribe("vigil.kpi.>", cb=on_kpi)
    async with running(nats_url, tmp_path):
        batches = [
            tray("packing", "kim", f"{today} 08:00:00", f"{today} 08:05:00", i + 2,
                 work_time=300 + i)
            for i in range(30)
        ]  # fmt: skip
        await publish(bus, batches)
        got = await _wait_trays(bus, 30, process="packing")
        assert got["kpis"]["total_pcs"] == 30 * 60
        await wait_for(lambda: any(u.values.get("total_trays") == 30 for u in updates))
        # coalesced: 30 batches never give 30 updates
        assert 1 <= len([u for u in updates if u.process == "packing"]) < 30
        # a batch applied while an update is being read is counted in the next one
        await wait_for(lambda: sum(u.sessions_added for u in updates) == 30)
        tiles = await ask(bus, "work_today")
        assert tiles["processes"]["packing"] == {"events": 30, "trays": 30, "pcs": 1800}
        assert tiles["processes"]["inspection"]["events"] == 0
        workers = await ask(bus, "work_workers", {"process": "packing"})
        assert [w["worker"] for w in workers["workers"]] == ["kim"]
        view = await ask(bus, "work_view_today", {"process": "packing"})
        assert view["day"] == today and view["workers"][0]["trays"] == 30


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"process": "paint"}, "process"),
        ({"date_from": "2026-11-09", "date_to": "2026-11-01"}, "date_to"),
        ({"date_from": "2026-1-1"}, "date_from"),
        ({"kind": "item", "value": ""}, "value"),
    ],
)
async def test_bad_filters_answer_400_naming_the_parameter(
    bus: Bus, nats_url: str, tmp_path: Path, payload: dict[str, Any], param: str
) -> None:
    async with running(nats_url, tmp_path):
        method = "work_trace" if "kind" in payload else "work_kpis"
        with pytest.raises(RpcError) as info:
            await ask(bus, method, payload)
        assert info.value.code == 400 and repr(param) in info.value.description


async def test_unknown_process_and_duplicates_do_not_break_or_double_count(
    bus: Bus, nats_url: str, tmp_path: Path
) -> None:
    async with running(nats_url, tmp_path):
        b = tray("packing", "kim", "2026-11-04 08:00", "2026-11-04 08:05", 2)
        weird = tray("paint", "kim", "2026-11-04 08:00", "2026-11-04 08:05", 2, path="p.csv")
        await publish(bus, [b, weird])
        await publish(bus, [b], tag="retry-")  # a re-read: new msg id, same file and line
        await bus.nc.publish("vigil.work.packing", b"not json")
        after = tray("packing", "kim", "2026-11-04 09:00", "2026-11-04 09:05", 3)
        await publish(bus, [after])
        got = await _wait_trays(bus, 2)
        problems = await ask(bus, "work_problems", {})
        assert got["kpis"]["total_trays"] == 2 and problems["unknown_process"] == 1
        await asyncio.sleep(0.3)
        assert (await ask(bus, "work_kpis", {}))["kpis"]["total_trays"] == 2


async def test_restart_mid_stream_gives_identical_numbers(
    bus: Bus, nats_url: str, tmp_path: Path
) -> None:
    log = gen.generate(seed=3, days=5)
    batches = gen.batches(log, size=6, seed=4)
    half = len(batches) // 2
    expected_trays = len(
        [r for r in log.rows if r.event == "TRAY_COMPLETE" and "start_time" in r.details]
    )
    async with running(nats_url, tmp_path / "a"):
        await publish(bus, batches[:half])
        await _wait_trays(bus, 1)  # stopped while it is still working through them
    # the analyzer is down while the rest arrives, then comes back on the same data dir
    await publish(bus, batches[half:])
    await publish(bus, batches[: half // 2], tag="again-")
    async with running(nats_url, tmp_path / "a"):
        await drained(bus)
        restarted = await ask(bus, "work_kpis", {})
        restarted_workers = await ask(bus, "work_workers", {"as_of": "2026-11-05"})
    # the same stream read by a fresh analyzer in one go
    await bus.js.delete_consumer("VIGIL_WORK", "analyzer-work")
    async with running(nats_url, tmp_path / "b"):
        await drained(bus)
        fresh = await ask(bus, "work_kpis", {})
        fresh_workers = await ask(bus, "work_workers", {"as_of": "2026-11-05"})
    # identical up to float summation order
    assert_same(restarted["kpis"], fresh["kpis"])
    assert [w["worker"] for w in restarted_workers["workers"]] == [
        w["worker"] for w in fresh_workers["workers"]
    ]
    for a, b in zip(restarted_workers["workers"], fresh_workers["workers"], strict=True):
        assert_same(a, b)
    assert fresh["kpis"]["total_trays"] <= expected_trays


async def test_analyzer_service_serves_work_today(make_settings: Callable[..., Settings]) -> None:
    async with AnalyzerService(make_settings()) as service:
        reply = await service.bus.request(contracts.api("analyzer", "work_today"), {})
        shape = msgspec.json.decode(reply)
        assert set(shape["processes"]) == {"packing", "transfer", "inspection"}
        assert (Path(service.settings.data_path) / "analyzer-work.sqlite").exists()
        # `vigil status` shows what the work consumer has stored and has yet to store
        raw = await service.bus.request(contracts.api("analyzer", "health"), {})
        health = service.bus.codec.decode_as(raw, contracts.ServiceHealth)
        assert health.detail["work_backlog"] == 0 and health.detail["work_batches"] == 0
        assert "history" in health.detail
