"""Lose one node of a local 3-node JetStream cluster: no acknowledged batch is lost or doubled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from services.core import contracts
from services.core.bus import Bus
from services.core.config import NatsSettings
from services.core.streams import STREAMS
from tests.chaos.cluster import LocalCluster

pytestmark = pytest.mark.slow
T = TypeVar("T")


def _batch(n: int) -> contracts.WorkBatch:
    event = contracts.WorkEvent(
        line=n, ts="2026-11-21T08:00:00", worker="w", process="packing", event="SCAN_OK", offset=n
    )
    return contracts.WorkBatch(
        source="chaos",
        path="/x.csv",
        file_id="f",
        start=n,
        end=n + 1,
        process="packing",
        events=[event],
    )


async def _ensure_streams_when_ready(bus: Bus) -> None:
    # The cluster elects a JetStream meta leader a moment after the nodes are ready.
    for _ in range(100):
        try:
            await bus.ensure_streams(STREAMS[:1], replicas=3)
            return
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("JetStream cluster never became available")


async def _retry(make: Callable[[], Awaitable[T]], tries: int = 100) -> T:
    """Cluster API calls fail while a new meta leader is elected; try again."""
    for _ in range(tries - 1):
        try:
            return await make()
        except Exception:
            await asyncio.sleep(0.2)
    return await make()


async def test_losing_one_node_keeps_every_batch_exactly_once(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    await cluster.start()
    try:
        bus = await Bus.connect(NatsSettings(url=cluster.urls), "chaos")
        async with bus:
            await _ensure_streams_when_ready(bus)
            info = await bus.js.stream_info("VIGIL_WORK")
            assert info.config.num_replicas == 3
            total = 600
            for n in range(total):
                if n == 200:
                    # Kill the stream leader, the node most likely to hurt.
                    leader = info.cluster.leader if info.cluster else None
                    victim = next(x for x in cluster.nodes if x.name == leader)
                    await cluster.kill(victim)
                # A retry after a lost ack re-sends the same msg id: never stored twice.
                ack = None
                for _ in range(200):
                    try:
                        ack = await bus.publish(
                            contracts.work("packing"), _batch(n), msg_id=f"f:{n}", timeout=1.0
                        )
                        break
                    except Exception:
                        await asyncio.sleep(0.1)
                assert ack is not None, f"batch {n} never acknowledged"
            for _ in range(100):
                info = await _retry(lambda: bus.js.stream_info("VIGIL_WORK"))
                if info.state.messages == total:
                    break
                await asyncio.sleep(0.1)
            assert info.state.messages == total
            seen = set()
            sub = await _retry(
                lambda: bus.js.pull_subscribe("vigil.work.>", durable="check", stream="VIGIL_WORK")
            )
            while len(seen) < total:
                for msg in await sub.fetch(200, timeout=5):
                    batch = bus.codec.decode_as(msg.data, contracts.WorkBatch)
                    assert batch.start not in seen, "a batch was stored twice"
                    seen.add(batch.start)
                    await msg.ack()
            assert seen == set(range(total))
    finally:
        await cluster.stop()
