"""Bad program definitions end in a clear failed state with the reason, never a crash."""

from __future__ import annotations

import sys
from pathlib import Path

from services.core.bus import Bus
from tests.conftest import wait_for
from tests.programs.conftest import CHILD, Events, Managers, command, prog


async def test_missing_executable_fails_with_reason(
    managers: Managers, events: Events, bus: Bus
) -> None:
    await managers.start(
        {"id": "ghost", "argv": ["/no/such/bin/ghostd", "--flag"]},
        {"id": "ghost2", "argv": ["vigil-no-such-command-xyz"]},
        prog("fine", "sleep"),
    )
    ghost = await events.wait_state("ghost", "failed")
    assert "executable /no/such/bin/ghostd not found" in ghost.reason
    ghost2 = await events.wait_state("ghost2", "failed")
    assert "not found on PATH" in ghost2.reason
    # The others keep running.
    await events.wait_state("fine", "running")
    reply = await command(bus, "ghost", "start")
    assert reply.result == "failed" and "not found" in reply.detail


async def test_missing_working_directory(
    managers: Managers, events: Events, tmp_path: Path
) -> None:
    await managers.start(prog("lost", "sleep", cwd=str(tmp_path / "nowhere")))
    lost = await events.wait_state("lost", "failed")
    assert f"working directory {tmp_path / 'nowhere'} does not exist" in lost.reason


async def test_exit_at_once_is_a_failed_start(managers: Managers, events: Events) -> None:
    await managers.start(prog("quick", "crash", "0", "2", restart="never", start_secs=5))
    quick = await events.wait_state("quick", "failed")
    assert "exited at once: exit code 2" in quick.reason
    assert quick.last_exit_code == 2


async def test_shell_metacharacters_are_passed_literally(
    managers: Managers, events: Events, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    nasty = f"$(touch {pwned}); echo hi | cat > {pwned} && `touch {pwned}` *"
    manager = await managers.start(prog("literal", "args", nasty, "two words", cwd=str(tmp_path)))
    await events.wait_state("literal", "running")
    log = manager.runners["literal"].output / "output.log"
    await wait_for(lambda: log.exists() and log.read_text().count("ARG[") == 2)
    text = log.read_text()
    assert f"ARG[{nasty}]" in text and "ARG[two words]" in text
    assert not pwned.exists()


async def test_invalid_definitions_do_not_stop_the_others(
    managers: Managers, events: Events
) -> None:
    manager = await managers.start(
        {"id": "badsig", "argv": [sys.executable, CHILD], "stop_signal": "SIGNOPE"},
        {"id": "bad id!", "argv": [sys.executable, CHILD]},
        {"id": "nothing"},
        prog("ok", "sleep"),
    )
    await events.wait_state("ok", "running")
    assert "stop_signal: unknown signal 'SIGNOPE'" in manager.runners["badsig"].reason
    assert "must be 1-64 ASCII letters" in manager.runners["bad id!"].reason
    assert "give argv" in manager.runners["nothing"].reason
    assert {manager.runners[i].state for i in ("badsig", "bad id!", "nothing")} == {"failed"}
