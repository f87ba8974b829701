"""Hot files (polled closely while they grow) and the inline checkpoint commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.tail.checkpoint import CheckpointStore
from services.ingest.tail.hot import HotFiles
from services.ingest.tail.identity import TrackedFile
from tests.conftest import wait_for
from tests.ingest.helpers import (
    HEADER,
    running_ingest,
    settings_with,
    work_events,
    work_name,
    work_row,
    work_source,
)


async def test_a_hot_file_is_polled_until_it_goes_quiet(tmp_path: Path) -> None:
    path = tmp_path / "grows.csv"
    path.write_text("a\n")
    grew: asyncio.Queue[str] = asyncio.Queue()
    hot = HotFiles(grew.put_nowait, max_delay_s=0.005)
    try:
        hot.touch(str(path), path.stat().st_size)
        for i in range(3):
            with path.open("a") as f:
                f.write(f"{i}\n")
            # Seen by the size poll alone: no watcher runs in this test.
            assert await asyncio.wait_for(grew.get(), 10) == str(path)
        await wait_for(lambda: not hot.files, timeout=10)
        polls = hot.polls
        await asyncio.sleep(0.1)
        assert hot.polls == polls  # quiet: no polling at all
        with path.open("a") as f:
            f.write("late\n")
        await asyncio.sleep(0.1)
        assert grew.empty()  # no longer hot: the watch's job
        hot.touch(str(path), path.stat().st_size)
        path.unlink()
        await wait_for(lambda: not hot.files, timeout=10)  # gone: dropped at once
        assert grew.empty()
    finally:
        hot.close()


async def test_many_small_appends_arrive_once_in_order_while_hot(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    log.write_text(HEADER + work_row(0), encoding="utf-8")
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        tailer = files.tailers[0]
        await wait_for(tailer.backfilled.is_set, timeout=15)
        with log.open("a", encoding="utf-8") as f:
            f.write(work_row(1))
            f.flush()
            await wait_for(lambda: str(log) in (tailer.hot.files if tailer.hot else {}), 15)
            # Both the size poll and the watch see these writes; each row goes out once.
            for i in range(2, 300):
                f.write(work_row(i))
                f.flush()
                await asyncio.sleep(0.001)
        await wait_for(lambda: tailer.counters.records >= 300, timeout=30)
        assert tailer.hot is not None and tailer.hot.polls > 0
    lines = [e.line for _, e in await work_events(bus)]
    assert lines == list(range(2, 302))


async def test_no_hot_polling_on_polled_folders(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    settings = settings_with(make_settings, work_source(folder, force_polling=True))
    async with running_ingest(settings, bus) as files:
        assert files.tailers[0].hot is None  # a network share is not stat-ed every ms


def _stored(path: Path) -> dict[int, tuple[int, int]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT inode, offset, pending_end FROM ingest_file_offsets")
        return {inode: (offset, pending) for inode, offset, pending in rows}


async def test_checkpoints_commit_inline_and_the_wal_is_folded(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.start()
    first = TrackedFile("work", "/a", 1, 10, "fp")
    second = TrackedFile("work", "/b", 1, 20, "fp")
    try:
        second.offset = 7
        store.save(second)  # queued: rides with the next commit
        first.pending_end = 100
        store.commit(first)
        # Visible to another connection the moment commit returns.
        assert _stored(store.path) == {10: (0, 100), 20: (7, 0)}
        first.offset, first.pending_end = 100, 0
        store.save(first)  # after the ack: flushed soon even without another commit
        await wait_for(lambda: _stored(store.path)[10] == (100, 0), timeout=10)
        await wait_for(lambda: store.wal_checkpoints >= 1, timeout=10)
        for n in range(200):
            first.offset = 100 + n
            store.commit(first)
    finally:
        await store.close()
    assert _stored(store.path) == {10: (299, 0), 20: (7, 0)}
    wal = store.path.with_name(store.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # folded in at close
