"""Scale-out: metric-history backlog drained by two partitioned analyzer processes vs one.

A backlog of MetricBatches from 16 hosts sits in VIGIL_METRIC; analyzer processes (real
``python -m services.analyzer`` children) start against it and we time how fast the
durables drain, from the moment every instance delivers to the last acknowledgement.
Baseline: one instance (``partitions = 1``). Figure: two instances (``partitions = 2``), each
storing its 8 hosts and acking the other 8 unread. Both run on the same machine, so the
ratio says what a second instance buys on *this* machine's CPUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure
from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings

HOSTS = 16
METRICS = 10


async def _fill(bus: Bus, batches: int) -> int:
    """Publish the backlog; returns the number of samples."""
    base = time.time() - 3600
    chunk: list[asyncio.Future[object]] = []
    for i in range(batches):
        host = f"h{i % HOSTS}"
        samples = [contracts.MetricSample(name=f"m{j}", value=float(i + j)) for j in range(METRICS)]
        batch = contracts.MetricBatch(host=host, group="bench", ts=base + i * 0.01, samples=samples)
        chunk.append(asyncio.ensure_future(bus.publish(contracts.metric(host, "bench"), batch)))
        if len(chunk) >= 500:
            await asyncio.gather(*chunk)
            chunk = []
    await asyncio.gather(*chunk)
    return batches * METRICS


async def _drain_rate(bus: Bus, url: str, root: Path, partitions: int, total: int) -> float:
    """Start ``partitions`` analyzer processes; batches per second until all acked."""
    durables = [f"analyzer-history{f'-p{k}' if partitions > 1 else ''}" for k in range(partitions)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env |= {
        "VIGIL_NATS_URL": url,
        "VIGIL_DATA_DIR": str(root / f"data-{partitions}"),
        "VIGIL_ANALYZER_PARTITIONS": str(partitions),
        "VIGIL_LOG_LEVEL": "warning",
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.analyzer",
            env={**env, "VIGIL_ANALYZER_PARTITION": str(k)},
            cwd=root,
        )
        for k in range(partitions)
    ]
    try:
        # Progress = the stream sequence every durable has acked up to (the slowest one), so
        # the start-up of the processes is not counted: timed from when all of them deliver.
        t0 = floor0 = 0.0
        while True:
            infos = []
            for durable in durables:
                with contextlib.suppress(Exception):
                    infos.append(await bus.js.consumer_info("VIGIL_METRIC", durable))
            now = time.perf_counter()
            complete = len(infos) == len(durables)
            floor = min((i.ack_floor.stream_seq or 0) for i in infos) if complete else 0
            if not t0 and complete and all(i.delivered.consumer_seq for i in infos):
                t0, floor0 = now, floor
            if (
                t0
                and complete
                and all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)
            ):
                return (total - floor0) / (now - t0)
            await asyncio.sleep(0.02)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            await proc.wait()


async def run(quick: bool) -> list[Figure]:
    batches = 4_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = EmbeddedBroker(root / "broker", port=-1)
        await broker.start()
        try:
            bus = await Bus.connect(NatsSettings(url=broker.client_url), "bench")
            try:
                await bus.ensure_streams()
                samples = await _fill(bus, batches)
                one = await _drain_rate(bus, broker.client_url, root, 1, batches)
                two = await _drain_rate(bus, broker.client_url, root, 2, batches)
            finally:
                await bus.close()
        finally:
            await broker.stop()
    note = (
        f"{samples:,} samples in {batches:,} batches from {HOSTS} hosts, already in the stream; "
        f"timed from the moment every instance delivers to the last ack (the slowest "
        f"instance's ack floor); {os.cpu_count()} CPUs shared by both instances and nats-server"
    )
    return [
        Figure(
            "metric history drained, 2 analyzer partitions (2 processes)",
            two * METRICS,
            "samples/s",
            "1 analyzer instance",
            one * METRICS,
            note=note,
        )
    ]
