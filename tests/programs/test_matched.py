"""Programs Vigil did not start, found by command line, name or pid file."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.core.bus import Bus
from services.ingest.programs import process as osproc
from tests.programs.conftest import CHILD, Events, Managers, command


@pytest.fixture
async def outsider() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    tag = f"outsider-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, CHILD, "args", tag, stdout=asyncio.subprocess.DEVNULL
    )
    yield proc, tag
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_matched_by_cmdline_then_unexpected_exit(
    managers: Managers, events: Events, outsider: tuple[asyncio.subprocess.Process, str]
) -> None:
    proc, tag = outsider
    await managers.start({"id": "external", "match": {"cmdline_regex": tag}})
    running = await events.wait_state("external", "running")
    assert running.pid == proc.pid and running.rss_mb >= 0
    proc.kill()
    await proc.wait()
    crashed = await events.wait_state("external", "crashed")
    assert "exit code unknown" in crashed.reason
    exited = events.exits("external")
    assert len(exited) == 1 and exited[0].expected is False and exited[0].pid == proc.pid


async def test_matched_by_pid_file_and_stopped_by_command(
    managers: Managers,
    events: Events,
    bus: Bus,
    tmp_path: Path,
    outsider: tuple[asyncio.subprocess.Process, str],
) -> None:
    proc, _ = outsider
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(f"{proc.pid}\n")
    await managers.start({"id": "pidfile", "match": {"pid_file": str(pid_file)}})
    assert (await events.wait_state("pidfile", "running")).pid == proc.pid
    assert (await command(bus, "pidfile", "start")).result == "already"
    reply = await command(bus, "pidfile", "stop")
    assert reply.result == "done"
    assert await asyncio.wait_for(proc.wait(), 5) == -15
    assert events.exits("pidfile")[-1].expected is True
    assert not osproc.alive(proc.pid)


async def test_no_match_is_stopped_and_start_is_refused(
    managers: Managers, events: Events, bus: Bus
) -> None:
    await managers.start({"id": "absent", "match": {"process_name": "no-such-proc-xyz"}})
    stopped = await events.wait_state("absent", "stopped")
    assert "no process matches" in stopped.reason
    reply = await command(bus, "absent", "start")
    assert reply.result == "failed" and "watched only" in reply.detail
