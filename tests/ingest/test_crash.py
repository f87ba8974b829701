"""Exactly once across SIGKILL of ingest and of nats-server (real child processes)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from tests.conftest import wait_for
from tests.ingest.helpers import HEADER, stored, work_events, work_name, work_row

ROOT = Path(__file__).resolve().parents[2]
LINES = 200_000


def write_config(tmp_path: Path, url: str, folder: Path) -> Path:
    config = tmp_path / "vigil.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nnode = "testhost"\n'
        f'[nats]\nurl = "{url}"\n'
        f'[[ingest.sources]]\nname = "work"\npath = "{folder}"\nparser = "work"\n'
        "batch_max_records = 500\n"
    )
    return config


def big_work_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / work_name()
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        f.writelines(work_row(i) for i in range(LINES))
    return path


async def start_ingest(config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        "--config",
        str(config),
        "--log-level",
        "warning",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def assert_every_line_once(bus: Bus) -> None:
    events = await work_events(bus)
    keys = collections.Counter((batch.file_id, e.offset) for batch, e in events)
    twice = [k for k, n in keys.items() if n > 1]
    assert not twice, f"{len(twice)} lines stored more than once"
    assert sorted(e.line for _, e in events) == list(range(2, LINES + 2))


@pytest.fixture
async def reader_bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = await Bus.connect(NatsSettings(url=nats_url), "test-reader")
    await bus.ensure_streams()
    try:
        yield bus
    finally:
        await bus.close()


async def test_sigkill_of_ingest_mid_file_then_restart(
    tmp_path: Path, nats_url: str, reader_bus: Bus, child_env: dict[str, str]
) -> None:
    folder = tmp_path / "watch"
    big_work_file(folder)
    config = write_config(tmp_path, nats_url, folder)
    bus = reader_bus
    for kill_at in (20, 120, 260):  # batches of 500 lines stored before each SIGKILL
        proc = await start_ingest(config, child_env)
        try:
            await wait_for(lambda n=kill_at: _stored_at_least(bus, n), timeout=60, step=0.005)
        finally:
            await kill(proc)
    proc = await start_ingest(config, child_env)
    try:
        await wait_for(lambda: _stored_at_least(bus, LINES // 500), timeout=120)
        await asyncio.sleep(0.5)  # a duplicate would arrive right after
    finally:
        await kill(proc)
    await assert_every_line_once(bus)


async def _stored_at_least(bus: Bus, n: int) -> bool:
    return await stored(bus, "VIGIL_WORK") >= n


async def test_sigkill_of_nats_server_then_restart(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    broker = EmbeddedBroker(tmp_path / "broker", port=-1)
    url = await broker.start()
    port = broker.port
    folder = tmp_path / "watch"
    path = big_work_file(folder)
    config = write_config(tmp_path, url, folder)
    bus = await Bus.connect(NatsSettings(url=url), "test-reader")
    await bus.ensure_streams()
    proc = await start_ingest(config, child_env)
    try:
        for kill_at in (30, 200):
            await wait_for(lambda n=kill_at: _stored_at_least(bus, n), timeout=60, step=0.005)
            assert broker.proc is not None
            os.killpg(broker.proc.pid, signal.SIGKILL)
            await broker.proc.wait()
            # Rows keep coming while the broker is down.
            with path.open("a", encoding="utf-8") as f:
                f.write(work_row(LINES + kill_at))
            await asyncio.sleep(1.0)
            broker = EmbeddedBroker(tmp_path / "broker", port=port)
            await broker.start()
        total = LINES // 500 + 2
        await wait_for(lambda: _stored_at_least(bus, total), timeout=120)
        await asyncio.sleep(0.5)
        events = await work_events(bus)
        keys = collections.Counter((batch.file_id, e.offset) for batch, e in events)
        assert max(keys.values()) == 1
        assert sorted(e.line for _, e in events) == list(range(2, LINES + 4))
        assert proc.returncode is None  # ingest rode out both outages
    finally:
        await kill(proc)
        await bus.close()
        await broker.stop()
