"""SIGKILL ingest, the analyzer and the broker at random moments during a sustained ingest:
afterwards the analyzer's counts equal the input exactly and every database is intact."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from tests.conftest import free_port

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("VIGIL_CHAOS_KILLS", "12"))
WORKERS = ("김민준", "이서연", "박지훈")


class ServiceProc:
    """One service as a real child process that can be SIGKILLed and started again."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        out = (self.log_dir / f"{self.name}.out").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{self.name}", env=self.env, stdout=out, stderr=out
        )

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _row(ts: datetime, worker: str, n: int) -> str:
    if n % 20 == 19:
        start = ts.strftime("%Y-%m-%d %H:%M:%S")
        details = f"start_time={start}|work_time=55|CLC=A1"
        return f"{ts:%Y-%m-%d %H:%M:%S},{worker},TRAY_COMPLETE,{details}\n"
    return f'{ts:%Y-%m-%d %H:%M:%S},{worker},SCAN_OK,"{{""barcode"": ""B{n}""}}"\n'


async def _write_logs(watch: Path, rng: random.Random, stop: asyncio.Event) -> int:
    """Append rows to three workers' logs in small bursts until ``stop``; returns the count."""
    today = datetime.now()
    files = {w: watch / f"포장실작업이벤트로그_{w}_{today:%Y%m%d}.csv" for w in WORKERS}
    for path in files.values():
        path.write_text("timestamp,worker,event,details\n", encoding="utf-8-sig")
    written = {w: 0 for w in WORKERS}
    while not stop.is_set():
        worker = rng.choice(WORKERS)
        burst = rng.randint(1, 40)
        with files[worker].open("a", encoding="utf-8") as fh:
            for _ in range(burst):
                fh.write(_row(datetime.now(), worker, written[worker]))
                written[worker] += 1
        await asyncio.sleep(rng.uniform(0.0, 0.02))
    return sum(written.values())


async def _analyzer_events(bus: Bus) -> int:
    try:
        raw = await bus.request(contracts.api("analyzer", "work_today"), {}, timeout=2.0)
    except Exception:
        return -1
    today = msgspec.json.decode(raw)
    return int(today.get("processes", {}).get("packing", {}).get("events", 0))


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "broker", port=free_port())
    await b.start()
    yield b
    await b.stop()


async def test_random_sigkills_lose_and_double_nothing(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    rng = random.Random(int(os.environ.get("VIGIL_CHAOS_SEED", "7")))
    watch = tmp_path / "watch"
    watch.mkdir()
    data = tmp_path / "data"
    config = tmp_path / "vigil.toml"
    config.write_text(f'[[ingest.sources]]\nname = "work"\npath = "{watch}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_CONFIG=str(config),
        VIGIL_DATA_DIR=str(data),
        VIGIL_NATS_URL=broker.client_url,
        VIGIL_LOG_LEVEL="warning",
    )
    services = {n: ServiceProc(n, env, tmp_path) for n in ("ingest", "analyzer")}
    for svc in services.values():
        await svc.start()
    stop_writing = asyncio.Event()
    writer = asyncio.create_task(_write_logs(watch, rng, stop_writing))
    kills: dict[str, int] = {"ingest": 0, "analyzer": 0, "broker": 0}
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            victim = rng.choice(["ingest", "analyzer", "broker"])
            if victim == "broker":
                await broker.stop(timeout=0.1)  # SIGTERM then SIGKILL almost at once
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                await broker.start()
            else:
                await services[victim].kill()
                await asyncio.sleep(rng.uniform(0.05, 0.4))
                await services[victim].start()
            kills[victim] += 1
        stop_writing.set()
        expected = await writer
        bus = await Bus.connect(NatsSettings(url=broker.client_url), "chaos")
        async with bus:
            counted = -1
            for _ in range(600):
                counted = await _analyzer_events(bus)
                if counted == expected:
                    break
                await asyncio.sleep(0.1)
            assert counted == expected, f"analyzer counted {counted} of {expected} rows"
            # Stable: nothing late arrives to double the count.
            await asyncio.sleep(2.0)
            assert await _analyzer_events(bus) == expected
        print(f"chaos: {expected} rows, kills {kills}")
        assert sum(kills.values()) == KILLS and expected > 0
    finally:
        writer.cancel()
        for svc in services.values():
            await svc.stop()
    for db in sorted(data.glob("*.sqlite")):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), db
