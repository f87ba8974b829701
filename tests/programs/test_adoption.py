"""A real ingest process: children survive its restart and are adopted, or stop with it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.core.bus import Bus
from services.ingest.programs import process as osproc
from tests.conftest import wait_for
from tests.programs.conftest import CHILD, Events, command


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


class Ingest:
    """`python -m services.ingest --config vigil.toml` as a child of the test."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config, self.env = config, env
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.ingest", "--config", str(self.config),
            env=self.env, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def terminate(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout)


@pytest.fixture
async def ingest_with(
    tmp_path: Path, nats_url: str, child_env: dict[str, str]
) -> AsyncIterator[Callable[..., Any]]:
    started: list[Ingest] = []
    seen_pids: set[int] = set()

    def build(mode: str, programs: list[dict[str, Any]]) -> Ingest:
        lines = [
            f'data_dir = "{tmp_path / "data"}"',
            'node = "testhost"',
            "[nats]",
            f'url = "{nats_url}"',
            "[ingest]",
            "sources = []",
            "[ingest.programs]",
            f'on_ingest_stop = "{mode}"',
            "sample_interval_s = 0.5",
        ]
        for p in programs:
            lines += ["[[ingest.programs.program]]", f'id = "{p["id"]}"']
            lines += [f"argv = {toml_list(p['argv'])}"]
            lines += [f"{k} = {v}" for k, v in p.items() if k not in ("id", "argv")]
        config = tmp_path / "vigil.toml"
        config.write_text("\n".join(lines) + "\n")
        ingest = Ingest(config, child_env)
        started.append(ingest)
        return ingest

    build.seen_pids = seen_pids  # type: ignore[attr-defined]
    yield build
    for ingest in started:
        if ingest.proc and ingest.proc.returncode is None:
            ingest.proc.kill()
            await ingest.proc.wait()
    for pid in seen_pids:
        if osproc.alive(pid):
            with contextlib.suppress(OSError):
                osproc.send(pid, signal.SIGKILL, group=True)


async def test_children_survive_an_ingest_restart_and_are_adopted(
    ingest_with: Callable[..., Any], events: Events, bus: Bus
) -> None:
    programs = [{"id": "survivor", "argv": [sys.executable, CHILD, "sleep"]}]
    first = ingest_with("leave", programs)
    await first.start()
    running = await events.wait_state("survivor", "running", timeout=30)
    pid = running.pid
    ingest_with.seen_pids.add(pid)  # type: ignore[attr-defined]

    assert await first.terminate() == 0
    assert osproc.alive(pid), "the child must outlive ingest in 'leave' mode"
    events.all.clear()

    second = ingest_with("leave", programs)
    await second.start()

    def adopted() -> Any:
        return [s for s in events.statuses("survivor") if "adopted" in s.reason]

    status = (await wait_for(adopted, timeout=30))[0]
    assert status.state == "running" and status.pid == pid
    assert not events.exits("survivor")

    # The adopted child is watched like our own: its death is seen and it is restarted.
    osproc.send(pid, signal.SIGKILL, group=True)
    await wait_for(lambda: events.exits("survivor"), timeout=10)
    exited = events.exits("survivor")[0]
    assert exited.expected is False and exited.pid == pid

    def restarted() -> Any:
        return [s for s in events.statuses("survivor") if s.state == "running" and s.pid != pid]

    new_pid = (await wait_for(restarted, timeout=15))[0].pid
    ingest_with.seen_pids.add(new_pid)  # type: ignore[attr-defined]
    reply = await command(bus, "survivor", "stop")
    assert reply.result == "done" and not osproc.alive(new_pid)
    assert await second.terminate() == 0


async def test_children_stop_with_ingest_in_stop_mode(
    ingest_with: Callable[..., Any], events: Events
) -> None:
    programs = [
        {"id": "plain", "argv": [sys.executable, CHILD, "sleep"]},
        {"id": "deaf", "argv": [sys.executable, CHILD, "ignore-term"], "stop_timeout_s": 30},
    ]
    ingest = ingest_with("stop", programs)
    await ingest.start()
    pids = [(await events.wait_state(p, "running", timeout=30)).pid for p in ("plain", "deaf")]
    ingest_with.seen_pids.update(pids)  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)  # let "deaf" install its SIGTERM handler
    # `vigil up` SIGKILLs ingest 3 s after SIGTERM: everything must be down before that.
    assert await ingest.terminate(timeout=3.0) == 0
    assert not any(osproc.alive(pid) for pid in pids)
    by_id = {e.program_id: e for p in ("plain", "deaf") for e in events.exits(p)}
    assert by_id["plain"].expected and by_id["plain"].signal == 15
    assert by_id["deaf"].signal == 9
