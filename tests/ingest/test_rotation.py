"""Files that move under the tailer: rotation by rename, copy-truncate, truncation, archiving."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import wait_for
from tests.ingest.helpers import (
    HEADER,
    log_records,
    running_ingest,
    settings_with,
    work_events,
    work_name,
    work_row,
    work_source,
)


def jsonl(start: int, stop: int, tag: str = "") -> str:
    return "".join(json.dumps({"n": i, "tag": tag}) + "\n" for i in range(start, stop))


def jsonl_source(folder: Path, include: list[str]) -> dict[str, object]:
    return {"name": "app", "path": str(folder), "parser": "jsonl", "include": include}


async def _records(bus: Bus, n: int) -> bool:
    return len(await log_records(bus)) >= n


async def test_rotation_by_rename(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_text(jsonl(0, 50))
    settings = settings_with(make_settings, jsonl_source(folder, ["app.log*"]))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 50), timeout=15)
        with live.open("a") as f:
            f.write(jsonl(50, 60))  # written just before the rename: must not be lost
        live.rename(folder / "app.log.1")
        live.write_text(jsonl(60, 100, "new"))
        await wait_for(lambda: _records(bus, 100), timeout=15)
        with live.open("a") as f:
            f.write(jsonl(100, 110, "new"))
        await wait_for(lambda: _records(bus, 110), timeout=15)
    records = await log_records(bus)
    assert sorted(r.fields["n"] for _, r in records) == list(range(110))
    assert len({b.file_id for b, _ in records}) == 2


async def test_rotation_to_an_unwatched_name_keeps_the_unread_rest(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_text(jsonl(0, 20))
    settings = settings_with(make_settings, jsonl_source(folder, ["app.log"]))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 20), timeout=15)
        # No await between these: the tailer cannot read the appended rows before the rename.
        with live.open("a") as f:
            f.write(jsonl(20, 30))
        live.rename(folder / "app.log.1")
        live.write_text(jsonl(30, 35, "new"))
        await wait_for(lambda: _records(bus, 35), timeout=15)
    records = await log_records(bus)
    assert sorted(r.fields["n"] for _, r in records) == list(range(35))
    assert {b.path for b, r in records if r.fields["n"] in range(20, 30)} == {
        str(folder / "app.log.1")
    }


async def test_copy_truncate(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_text(jsonl(0, 40))
    settings = settings_with(make_settings, jsonl_source(folder, ["app.log"]))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 40), timeout=15)
        shutil.copy(live, folder / "app.log.1")  # not included: the copy is not read
        with live.open("r+") as f:
            f.truncate(0)
        with live.open("a") as f:
            f.write(jsonl(40, 45))
        await wait_for(lambda: _records(bus, 45), timeout=15)
    records = await log_records(bus)
    assert [r.fields["n"] for _, r in records] == list(range(45))
    ids = [b.file_id for b, _ in records]
    assert ids[0] != ids[-1] and ids[-1].endswith("~1")  # same inode, new generation


async def test_truncation_then_longer_rewrite_is_noticed(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_text(jsonl(0, 10))
    settings = settings_with(make_settings, jsonl_source(folder, ["app.log"]))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 10), timeout=15)
    # Rewritten while ingest was down, longer than before: size alone cannot tell.
    live.write_text(jsonl(100, 130, "rewritten"))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 40), timeout=15)
    records = await log_records(bus)
    assert [r.fields["n"] for _, r in records] == [*range(10), *range(100, 130)]


async def test_moved_into_archive_is_not_read_twice(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    log.write_text(HEADER + "".join(work_row(i) for i in range(30)), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: _events(bus, 30), timeout=15)
        archive = folder / "2024-01-05"
        archive.mkdir()
        moved = archive / log.name
        os.rename(log, moved)
        with moved.open("a", encoding="utf-8") as f:
            f.write(work_row(30))
        await wait_for(lambda: _events(bus, 31), timeout=15)
        tailer = files.tailers[0]
        await wait_for(lambda: str(moved) in tailer.by_path, timeout=10)
    # And again after a restart: the checkpoint follows the inode, not the name.
    async with running_ingest(settings, bus) as again:
        await wait_for(lambda: again.tailers[0].backfilled.is_set(), timeout=10)
    events = await work_events(bus)
    assert [e.line for _, e in events] == list(range(2, 33))
    assert events[-1][0].path == str(moved)


async def _events(bus: Bus, n: int) -> bool:
    return len(await work_events(bus)) >= n


async def test_deleted_and_recreated_file_is_read_from_the_start(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    log.write_text(HEADER + "".join(work_row(i) for i in range(5)), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _events(bus, 5), timeout=15)
        log.unlink()
        log.write_text(HEADER + "".join(work_row(i, "kim", "TRAY_COMPLETE") for i in range(8)))
        await wait_for(lambda: _events(bus, 13), timeout=15)
    events = await work_events(bus)
    assert [e.event for _, e in events].count("TRAY_COMPLETE") == 8


async def test_forced_polling_csv_source(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "share"
    (folder / "log").mkdir(parents=True)
    path = folder / "log" / "plc.csv"
    path.write_text("time;station;value\n2024-01-05 10:00:00;A;1\n", encoding="utf-8")
    source = {
        "name": "plc",
        "path": str(folder),
        "parser": "csv",
        "include": ["*.csv"],
        "force_polling": True,
        "poll_interval_ms": 50,
    }
    settings = settings_with(make_settings, source)
    async with running_ingest(settings, bus):
        await wait_for(lambda: _records(bus, 1), timeout=15)
        with path.open("a", encoding="utf-8") as f:
            f.write("2024-01-05 10:00:01;B;2\n")
        await wait_for(lambda: _records(bus, 2), timeout=15)
    records = await log_records(bus)
    assert [r.fields for _, r in records] == [
        {"time": "2024-01-05 10:00:00", "station": "A", "value": "1"},
        {"time": "2024-01-05 10:00:01", "station": "B", "value": "2"},
    ]
    assert records[1][1].ts == "2024-01-05T10:00:01" and records[1][1].line == 3
    assert records[0][0].parser == "csv" and records[0][0].source == "plc"
