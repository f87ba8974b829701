"""A factory PC's leaf node cut off from the centre: it keeps acknowledging work batches
locally, and the centre catches up exactly (nothing lost, nothing doubled) on reconnect.

This is the layout of docs/DEPLOY.md: the leaf has its own JetStream domain; the centre's
VIGIL_WORK stream captures the subjects directly while the link is up and also sources the
leaf's stream, and the shared Nats-Msg-Id lets the duplicate window drop the second copy.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from nats.js.api import ExternalStream, StreamSource

from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from services.core.streams import STREAMS
from tests.conftest import free_port

pytestmark = pytest.mark.slow
OUTAGE_S = float(os.environ.get("VIGIL_CHAOS_LEAF_OUTAGE_S", "60"))
WORK = STREAMS[0]


def _hub_conf(root: Path, port: int, leaf_port: int) -> str:
    return (
        f'server_name: "hub"\nlisten: "127.0.0.1:{port}"\n'
        f'jetstream {{ store_dir: "{root / "hub"}", domain: "hub" }}\n'
        f'leafnodes {{ listen: "127.0.0.1:{leaf_port}" }}\n'
    )


def _leaf_conf(root: Path, port: int, hub_leaf_port: int) -> str:
    return (
        f'server_name: "edge1"\nlisten: "127.0.0.1:{port}"\n'
        f'jetstream {{ store_dir: "{root / "edge"}", domain: "edge1" }}\n'
        f'leafnodes {{ remotes: [ {{ urls: ["nats-leaf://127.0.0.1:{hub_leaf_port}"] }} ] }}\n'
    )


def _batch(n: int) -> contracts.WorkBatch:
    event = contracts.WorkEvent(
        line=n, ts="2026-11-21T08:00:00", worker="w", process="packing", event="SCAN_OK", offset=n
    )
    return contracts.WorkBatch(
        source="edge",
        host="edge1",
        path="/x.csv",
        file_id="edge1:f",
        start=n,
        end=n + 1,
        process="packing",
        events=[event],
    )


async def _retry_until(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if await check():
                return
        except Exception:
            pass
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


async def test_leaf_cut_off_then_reconnected_catches_up_exactly(tmp_path: Path) -> None:
    hub_port, hub_leaf_port, edge_port = free_port(), free_port(), free_port()
    hub = EmbeddedBroker(
        tmp_path / "hub", port=hub_port, config_text=_hub_conf(tmp_path, hub_port, hub_leaf_port)
    )
    edge = EmbeddedBroker(
        tmp_path / "edge",
        port=edge_port,
        config_text=_leaf_conf(tmp_path, edge_port, hub_leaf_port),
    )
    await hub.start()
    await edge.start()
    try:
        edge_bus = await Bus.connect(NatsSettings(url=edge.client_url), "edge-ingest")
        hub_bus = await Bus.connect(NatsSettings(url=hub.client_url), "centre")
        async with edge_bus, hub_bus:
            await edge_bus.js.add_stream(WORK.config())
            centre = WORK.config()
            centre.sources = [
                StreamSource(name=WORK.name, external=ExternalStream(api="$JS.edge1.API"))
            ]
            await hub_bus.js.add_stream(centre)

            published = 0

            async def publish(count: int) -> None:
                nonlocal published
                for _ in range(count):
                    ack = await edge_bus.publish_retrying(
                        contracts.work("packing"),
                        _batch(published),
                        msg_id=f"edge1:f:{published}-{published + 1}",
                    )
                    assert ack is not None
                    published += 1

            await publish(300)
            await hub.stop()  # the link (and the centre) is gone
            outage_end = asyncio.get_running_loop().time() + OUTAGE_S
            while asyncio.get_running_loop().time() < outage_end:
                await publish(20)  # acknowledged by the leaf's own JetStream
                await asyncio.sleep(0.25)
            during_outage = published - 300
            assert during_outage > 0
            await hub.start()
            await publish(100)

            async def centre_has_all() -> bool:
                info = await hub_bus.js.stream_info(WORK.name)
                return info.state.messages >= published

            # nats-server retries a broken source with backoff: ~40 s here after a cut.
            await _retry_until(centre_has_all, 120)
            await asyncio.sleep(1.0)  # anything late would show up as a surplus
            info = await hub_bus.js.stream_info(WORK.name)
            assert info.state.messages == published
            sub = await hub_bus.js.pull_subscribe("vigil.work.>", durable="check", stream=WORK.name)
            seen: set[int] = set()
            while len(seen) < published:
                for msg in await sub.fetch(500, timeout=5):
                    batch = hub_bus.codec.decode_as(msg.data, contracts.WorkBatch)
                    assert batch.start not in seen, f"batch {batch.start} stored twice"
                    seen.add(batch.start)
                    await msg.ack()
            assert seen == set(range(published))
    finally:
        await edge.stop()
        await hub.stop()
