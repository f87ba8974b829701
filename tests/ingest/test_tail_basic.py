"""Tailing work logs: appends in small and large chunks, partial lines, restart and resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import wait_for
from tests.ingest.helpers import (
    HEADER,
    running_ingest,
    settings_with,
    stored,
    work_events,
    work_name,
    work_row,
    work_source,
)


async def test_small_and_large_appends_arrive_once_in_order(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    log.write_text(HEADER + "".join(work_row(i) for i in range(3)), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _count(bus, 3), timeout=15)
        for i in range(3, 8):  # one row per write
            with log.open("a", encoding="utf-8") as f:
                f.write(work_row(i))
            await wait_for(lambda n=i + 1: _count(bus, n), timeout=15)
        with log.open("a", encoding="utf-8") as f:  # one big write
            f.write("".join(work_row(i) for i in range(8, 20_008)))
        await wait_for(lambda: _count(bus, 20_008), timeout=30)
    events = await work_events(bus)
    lines = [e.line for _, e in events]
    assert lines == list(range(2, 20_010))  # header is line 1
    batch, first = events[0]
    assert batch.process == "packing" and batch.worker == "kim"
    assert first.ts == "2024-01-05T00:00:00" and first.details == {"PHS": "1", "N": "0"}
    assert first.offset == len(HEADER.encode())
    raw = log.read_bytes()
    for _, event in events[:50]:
        assert raw[event.offset :].startswith(b"2024-01-05")
    assert len({b.file_id for b, _ in events}) == 1


async def _file_changes(bus: Bus, n: int) -> bool:
    return await stored(bus, "VIGIL_FILES", "vigil.fs.>") >= n


async def _count(bus: Bus, n: int) -> bool:
    return len(await work_events(bus)) >= n


async def test_partial_last_line_waits_for_its_newline(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name("검사", "lee")
    log.write_text(HEADER + work_row(0, "lee"), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: _count(bus, 1), timeout=15)
        row = work_row(1, "lee", "TRAY_COMPLETE")
        with log.open("a", encoding="utf-8") as f:
            f.write(row[:15])
        tailer = files.tailers[0]
        state = next(iter(tailer.by_path.values()))
        before = state.offset
        # The watcher saw the half line (its FileChanged is out) and the tailer looked at
        # it; the offset stays at the last newline and nothing is published.
        await wait_for(lambda: _file_changes(bus, 1), timeout=10)
        await wait_for(lambda: not tailer.dirty, timeout=5)
        await asyncio.sleep(0.2)
        assert state.offset == before and tailer.counters.records == 1
        with log.open("a", encoding="utf-8") as f:
            f.write(row[15:] + work_row(2, "lee"))
        await wait_for(lambda: _count(bus, 3), timeout=15)
    events = [e for _, e in await work_events(bus)]
    assert [e.event for e in events] == ["SCAN_OK", "TRAY_COMPLETE", "SCAN_OK"]
    assert events[1].ts == "2024-01-05T00:00:01" and events[1].process == "inspection"


async def test_restart_resumes_at_the_checkpoint(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name("이적", "park")
    log.write_text(HEADER + "".join(work_row(i, "park") for i in range(100)), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _count(bus, 100), timeout=15)
    with log.open("a", encoding="utf-8") as f:
        f.write("".join(work_row(i, "park") for i in range(100, 150)))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _count(bus, 150), timeout=15)
    events = [e for _, e in await work_events(bus)]
    assert [e.line for e in events] == list(range(2, 152))
    assert {e.process for e in events} == {"transfer"}
    assert (Path(settings.data_dir) / "ingest-offsets.sqlite").exists()
