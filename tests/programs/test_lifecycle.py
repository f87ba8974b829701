"""Start, stop, restart over NATS commands with real child processes; crash detection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services.core.bus import Bus
from services.ingest.programs import process as osproc
from tests.conftest import wait_for
from tests.programs.conftest import Events, Managers, command, prog


async def test_autostart_then_stop_and_start_by_command(
    managers: Managers, events: Events, bus: Bus
) -> None:
    manager = await managers.start(prog("worker", "sleep"))
    running = await events.wait_state("worker", "running")
    pid = running.pid
    assert pid and osproc.alive(pid)
    assert manager.runners["worker"].state == "running"

    again = await command(bus, "worker", "start")
    assert again.result == "already" and str(pid) in again.detail

    stopped = await command(bus, "worker", "stop")
    assert stopped.result == "done" and stopped.state == "stopped"
    assert not osproc.alive(pid)
    exits = events.exits("worker")
    assert exits and exits[-1].expected is True and exits[-1].pid == pid
    assert (await command(bus, "worker", "stop")).result == "already"

    started = await command(bus, "worker", "start")
    assert started.result == "done", started.detail
    new_pid = manager.runners["worker"].pid
    assert new_pid and new_pid != pid and osproc.alive(new_pid)


async def test_restart_gives_a_new_process(managers: Managers, events: Events, bus: Bus) -> None:
    manager = await managers.start(prog("svc", "sleep"))
    first = (await events.wait_state("svc", "running")).pid
    reply = await command(bus, "svc", "restart")
    assert reply.result == "done", reply.detail
    second = manager.runners["svc"].pid
    assert second and second != first
    assert not osproc.alive(first) and osproc.alive(second)
    # A restart on command is not a crash: the exit was expected.
    assert [e.expected for e in events.exits("svc")] == [True]


async def test_unknown_action_and_unknown_program(managers: Managers, bus: Bus) -> None:
    await managers.start(prog("one", "sleep"))
    reply = await command(bus, "one", "explode")
    assert reply.result == "failed" and "unknown action" in reply.detail
    # Not registered on this host: this host stays silent (another host may own it).
    with pytest.raises(asyncio.TimeoutError):
        await command(bus, "nobody", "start", timeout=0.5)


async def test_crash_is_detected_within_a_second(
    managers: Managers, events: Events, tmp_path: Path
) -> None:
    marker = tmp_path / "died-at"
    await managers.start(prog("fragile", "marker-exit", str(marker), "1.0", restart="never"))
    await events.wait_state("fragile", "running")
    await wait_for(lambda: events.exits("fragile"), timeout=10)
    exited = events.exits("fragile")[0]
    died_at = float(marker.read_text())
    assert exited.expected is False and exited.exit_code == 7
    assert exited.ts - died_at < 1.0, f"detected {exited.ts - died_at:.3f} s after the exit"
    crashed = await events.wait_state("fragile", "crashed")
    assert crashed.last_exit_code == 7 and "exit code 7" in crashed.reason


async def test_backoff_schedule_and_retry_limit(managers: Managers, events: Events) -> None:
    spec = prog(
        "storm",
        "crash",
        "0",
        "5",
        restart="on-failure",
        max_retries=3,
        backoff_initial_s=0.2,
        backoff_max_s=0.5,
        start_secs=0.1,
    )
    manager = await managers.start(spec)
    failed = await events.wait_state("storm", "failed", timeout=20)
    assert "restart limit reached: 3 restarts" in failed.reason
    # Periodic snapshots repeat a state; a launch is the first "starting" of each pid.
    first_seen: dict[int | None, float] = {}
    for e in events.statuses("storm"):
        if e.state == "starting":
            first_seen.setdefault(e.pid, e.ts)
    starts = sorted(first_seen.values())
    exits = events.exits("storm")
    assert len(starts) == 4 and len(exits) == 4
    assert all(e.expected is False and e.exit_code == 5 for e in exits)
    # Each relaunch waits its backoff after the previous exit: 0.2, 0.4, then capped 0.5.
    gaps = [start - ex.ts for start, ex in zip(starts[1:], exits[:-1], strict=True)]
    for gap, delay in zip(gaps, (0.2, 0.4, 0.5), strict=True):
        assert gap >= delay - 0.02, gaps
    runner = manager.runners["storm"]
    assert runner.restart_count == 3 and runner.pid is None
    # The storm is over: nothing starts again by itself.
    await asyncio.sleep(0.8)
    assert len({e.pid for e in events.statuses("storm") if e.state == "starting"}) == 4


async def test_start_after_failure_runs_it_again_and_reports_the_new_failure(
    managers: Managers, events: Events, bus: Bus
) -> None:
    # start_secs is long, so each run "exits at once" however slowly Python starts.
    manager = await managers.start(prog("flaky", "crash", "0", "1", max_retries=0, start_secs=5))
    await events.wait_state("flaky", "failed")
    runner = manager.runners["flaky"]
    launches = runner.launches
    reply = await command(bus, "flaky", "start")
    assert runner.launches == launches + 1  # the limit does not block a person's start
    assert reply.result == "failed" and "restart limit reached: 0 restarts" in reply.detail
    await wait_for(lambda: len(events.exits("flaky")) == 2)


async def test_stop_timeout_kills(managers: Managers, events: Events, bus: Bus) -> None:
    manager = await managers.start(prog("stubborn", "ignore-term", stop_timeout_s=0.5))
    pid = (await events.wait_state("stubborn", "running")).pid
    log_file = manager.runners["stubborn"].output / "output.log"
    # Stop only once the child has installed its SIGTERM handler.
    await wait_for(lambda: log_file.exists() and "ignoring" in log_file.read_text())
    started = time.monotonic()
    reply = await command(bus, "stubborn", "stop")
    assert reply.result == "done"
    assert "killed after the 0.5 s stop timeout" in reply.detail
    assert time.monotonic() - started >= 0.5  # it really waited for SIGTERM first
    assert not osproc.alive(pid)
    exited = events.exits("stubborn")[-1]
    assert exited.signal == 9 and exited.expected is True


async def test_exit_zero_is_expected_and_not_restarted(managers: Managers, events: Events) -> None:
    await managers.start(prog("oneshot", "sleep", "0.3", restart="on-failure"))
    exited = await events.wait_state("oneshot", "exited")
    assert exited.last_exit_code == 0
    assert [e.expected for e in events.exits("oneshot")] == [True]


async def test_unchanged_programs_publish_no_repeated_snapshots(
    managers: Managers, events: Events
) -> None:
    manager = await managers.start(prog("quiet", "sleep"))
    await events.wait_state("quiet", "running")
    runner = manager.runners["quiet"]
    await wait_for(lambda: len(runner.history.recent) >= 2)
    before = len(events.statuses("quiet"))
    samples = len(runner.history.recent)
    await wait_for(lambda: len(runner.history.recent) >= samples + 4)
    # Four more samples of a sleeping process: nothing visible changed, nothing re-sent.
    assert len(events.statuses("quiet")) == before
    assert runner.history.recent[-1][2] > 1.0  # but the samples themselves are taken


async def test_stop_during_backoff_cancels_the_pending_restart(
    managers: Managers, events: Events, bus: Bus
) -> None:
    manager = await managers.start(
        prog("waiting", "crash", "0", "4", backoff_initial_s=30, start_secs=5)
    )
    crashed = await events.wait_state("waiting", "crashed")
    assert "restarting in 30 s (retry 1/5)" in crashed.reason
    reply = await command(bus, "waiting", "stop")
    assert reply.result == "done" and "pending restart cancelled" in reply.detail
    assert reply.state == "stopped"
    runner = manager.runners["waiting"]
    assert runner.launches == 1 and runner.restart_count == 0
    # Starting by hand skips the backoff and runs it at once.
    await command(bus, "waiting", "start")
    assert runner.launches == 2
