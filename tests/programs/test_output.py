"""Captured stdout/stderr: size-rotated files under <data_dir>/programs/<id>/, and the tail."""

from __future__ import annotations

import msgspec

from services.core import contracts
from services.core.bus import Bus
from services.ingest.programs.output import output_files, tail
from tests.conftest import wait_for
from tests.programs.conftest import Events, Managers, prog

LINE = len("line 0000000 " + "x" * 50 + "\n")


async def test_fast_output_rotates_and_tail_reads_across_files(
    managers: Managers, events: Events, bus: Bus
) -> None:
    lines = 5000  # ~320 kB written as fast as the child can
    manager = await managers.start(
        prog("chatty", "spew", str(lines), output_max_bytes=20_000, output_backups=3)
    )
    folder = manager.runners["chatty"].output
    current = folder / "output.log"

    def finished() -> bool:
        got = tail(folder, 1)
        return bool(got) and got[-1].startswith(f"line {lines - 1:07d}")

    await wait_for(finished, timeout=15)
    files = output_files(folder)
    assert [f.name for f in files] == ["output.log", "output.log.1", "output.log.2", "output.log.3"]
    assert not (folder / "output.log.4").exists()
    for f in files:
        size = f.stat().st_size
        assert size <= 20_000 and size % LINE == 0  # whole lines, never over the limit
    assert current.parent == managers.make_settings().data_path / "programs" / "chatty"

    last = tail(folder, 500)  # spans the current file and the rotated ones
    numbers = [int(line.split()[1]) for line in last]
    assert numbers == list(range(lines - 500, lines))

    reply = await bus.request(contracts.api("ingest", "program_tail"), {"id": "chatty", "lines": 3})
    got = msgspec.json.decode(reply)
    assert [int(x.split()[1]) for x in got["lines"]] == [lines - 3, lines - 2, lines - 1]


async def test_output_continues_across_restarts_in_the_same_files(
    managers: Managers, events: Events
) -> None:
    manager = await managers.start(prog("twice", "sleep"))
    await events.wait_state("twice", "running")
    runner = manager.runners["twice"]
    first = runner.pid
    await runner.restart()
    folder = runner.output
    await wait_for(lambda: "\n".join(tail(folder, 10)).count("sleeping") == 2)
    text = "\n".join(tail(folder, 10))
    assert f"child {first} sleeping" in text and f"child {runner.pid} sleeping" in text
