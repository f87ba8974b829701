"""Programs: crash-detection latency, command round trips, output capture rate, supervision CPU."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

from bench.common import Figure, mean, percentile
from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.programs.manager import ProgramManager
from services.ingest.programs.output import tail

CHILD = str(Path(__file__).resolve().parent.parent / "tests" / "programs" / "child.py")


def _settings(root: Path, url: str, programs: list[dict[str, Any]]) -> Settings:
    tree = {
        "data_dir": str(root / "data"),
        "node": "bench",
        "nats": {"url": url},
        "ingest": {"sources": [], "programs": {"program": programs, "sample_interval_s": 1.0}},
    }
    return msgspec.convert(tree, Settings)


async def _crash_latency(bus: Bus, manager: ProgramManager, root: Path, runs: int) -> list[float]:
    """Marker written just before os._exit → ProgramExited.ts (both wall clock, same host)."""
    seen: asyncio.Queue[contracts.ProgramExited] = asyncio.Queue()

    async def on_exit(msg: Any) -> None:
        seen.put_nowait(msgspec.json.decode(msg.data, type=contracts.ProgramExited))

    sub = await bus.nc.subscribe(contracts.program_exited("crashy"), cb=on_exit)
    lags = []
    for i in range(runs):
        marker = root / f"marker-{i}"
        spec = {
            "id": "crashy",
            "argv": [sys.executable, CHILD, "marker-exit", str(marker), "0.3"],
            "restart": "never",
            "start_secs": 0.1,
        }
        await manager.put(msgspec.convert(spec, type=_spec_type()))
        exited = await asyncio.wait_for(seen.get(), 15)
        lags.append(exited.ts - float(marker.read_text()))
    await sub.unsubscribe()
    return lags


def _spec_type() -> Any:
    from services.core.config.programs import ProgramSpec

    return ProgramSpec


async def _poll_baseline(root: Path, runs: int, interval: float = 1.0) -> list[float]:
    """A naive supervisor: look at the pid with psutil once a second."""
    lags = []
    for i in range(runs):
        marker = root / f"poll-{i}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, CHILD, "marker-exit", str(marker), "0.3"
        )
        ps = psutil.Process(proc.pid)
        while ps.is_running() and ps.status() != psutil.STATUS_ZOMBIE:
            await asyncio.sleep(interval)
        lags.append(time.time() - float(marker.read_text()))
        await proc.wait()
    return lags


async def _command_rtt(bus: Bus, program_id: str, action: str) -> float:
    started = time.perf_counter()
    reply = await bus.nc.request(contracts.program_cmd(program_id, action), b"{}", timeout=30)
    elapsed = time.perf_counter() - started
    decoded = msgspec.json.decode(reply.data, type=contracts.ProgramCommandReply)
    assert decoded.result == "done", decoded.detail
    return elapsed


async def _raw_spawn_stop() -> tuple[float, float]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, CHILD, "sleep", stdout=asyncio.subprocess.DEVNULL
    )
    spawned = time.perf_counter() - started
    started = time.perf_counter()
    proc.terminate()
    await proc.wait()
    return spawned, time.perf_counter() - started


async def _output_rate(manager: ProgramManager, root: Path, lines: int) -> tuple[float, float]:
    """Lines/s through the pump into rotated files, against the child writing a file itself."""
    spec = msgspec.convert(
        {"id": "spew", "argv": [sys.executable, CHILD, "spew", str(lines)], "start_secs": 0.0,
         "output_max_bytes": 5_000_000, "output_backups": 20},
        type=_spec_type(),
    )  # fmt: skip
    started = time.perf_counter()
    runner = await manager.put(spec)
    last = f"line {lines - 1:07d}"
    while not (tail(runner.output, 1) or [""])[-1].startswith(last):
        await asyncio.sleep(0.01)
    piped = time.perf_counter() - started
    await runner.stop()
    direct_file = root / "direct.log"
    started = time.perf_counter()
    with direct_file.open("wb") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, CHILD, "spew", str(lines), stdout=fh
        )
        while True:
            await asyncio.sleep(0.01)
            if direct_file.stat().st_size >= lines * 63:
                break
        direct = time.perf_counter() - started
        proc.kill()
        await proc.wait()
    return lines / piped, lines / direct


async def _supervision_cpu(
    manager: ProgramManager, count: int, seconds: float
) -> tuple[float, float]:
    """CPU % of one core used by this process: idle, then supervising ``count`` programs."""
    me = psutil.Process(os.getpid())
    t0 = sum(me.cpu_times()[:2])
    await asyncio.sleep(seconds)
    idle = (sum(me.cpu_times()[:2]) - t0) / seconds * 100
    for i in range(count):
        spec = {"id": f"p{i}", "argv": [sys.executable, CHILD, "sleep"], "start_secs": 0.0}
        await manager.put(msgspec.convert(spec, type=_spec_type()))
    await asyncio.sleep(1.0)
    t0 = sum(me.cpu_times()[:2])
    await asyncio.sleep(seconds)
    busy = (sum(me.cpu_times()[:2]) - t0) / seconds * 100
    return busy, idle


async def _run(quick: bool) -> list[Figure]:
    runs = 5 if quick else 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = EmbeddedBroker(root / "broker", port=-1)
        await broker.start()
        try:
            base = [{"id": "svc", "argv": [sys.executable, CHILD, "sleep"], "start_secs": 0.0}]
            settings = _settings(root, broker.client_url, base)
            bus = await Bus.connect(settings.nats, "bench")
            await bus.ensure_streams()
            manager = ProgramManager(settings, bus)
            await manager.start()
            try:
                lags = await _crash_latency(bus, manager, root, runs)
                polled = await _poll_baseline(root, max(3, runs // 2))
                await manager.runners["svc"].stop()
                starts, stops = [], []
                for _ in range(runs):
                    starts.append(await _command_rtt(bus, "svc", "start"))
                    stops.append(await _command_rtt(bus, "svc", "stop"))
                raw = [await _raw_spawn_stop() for _ in range(runs)]
                rate, direct_rate = await _output_rate(manager, root, 20_000 if quick else 200_000)
                count = 10 if quick else 50
                busy, idle = await _supervision_cpu(manager, count, 3.0 if quick else 10.0)
            finally:
                await manager.close()
                await bus.close()
        finally:
            await broker.stop()
    p50, p95 = percentile(lags, 50), percentile(lags, 95)
    return [
        Figure("crash detection latency p50", p50 * 1000, "ms", "psutil poll every 1 s (p50)",
               percentile(polled, 50) * 1000, target="< 1000 ms", met=p95 < 1.0,
               note=f"{runs} crashes; p95 {p95 * 1000:.1f} ms; max {max(lags) * 1000:.1f} ms"),
        Figure("start command round trip (NATS → running)", mean(starts) * 1000, "ms",
               "bare asyncio spawn", mean([r[0] for r in raw]) * 1000,
               note="includes executable lookup, output pump spawn, status publish"),
        Figure("stop command round trip (SIGTERM → exited)", mean(stops) * 1000, "ms",
               "bare terminate + wait", mean([r[1] for r in raw]) * 1000),
        Figure("output capture rate (pump → rotated files)", rate, "lines/s",
               "child writing straight to a file", direct_rate,
               note="63-byte lines; tail() polled every 10 ms to see the last line"),
        Figure(f"supervision CPU with {count} programs (1 s sampling)", busy, "% of a core",
               "same process idle", idle),
    ]  # fmt: skip


def run(quick: bool) -> Any:
    return _run(quick)
