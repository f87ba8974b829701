"""Offsets checkpoint store: <data_dir>/ingest-offsets.sqlite, one writer task, batched upserts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel

from services.ingest.tail.identity import TrackedFile

FILE_NAME = "ingest-offsets.sqlite"


class IngestFileOffset(SQLModel, table=True):
    """One row per (source, device, inode): where reading stopped and what was in flight."""

    __tablename__ = "ingest_file_offsets"

    source: str = Field(primary_key=True)
    dev: int = Field(primary_key=True)
    inode: int = Field(primary_key=True)
    fingerprint: str
    generation: int = 0
    path: str
    offset: int = 0
    line: int = 0
    tail: str = ""
    pending_end: int = 0
    pending_line: int = 0
    updated: float = 0.0


_TABLE: sa.Table = IngestFileOffset.__table__  # type: ignore[attr-defined]
_FIELDS = (
    "fingerprint",
    "generation",
    "path",
    "offset",
    "line",
    "tail",
    "pending_end",
    "pending_line",
    "updated",
)


def _row(state: TrackedFile) -> dict[str, Any]:
    return {
        "source": state.source,
        "dev": state.dev,
        "inode": state.inode,
        "fingerprint": state.fingerprint,
        "generation": state.generation,
        "path": state.path,
        "offset": state.offset,
        "line": state.line,
        "tail": state.tail,
        "pending_end": state.pending_end,
        "pending_line": state.pending_line,
        "updated": time.time(),
    }


class CheckpointStore:
    """SQLite in WAL mode; ``save`` queues a row, the writer task commits queued rows together."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / FILE_NAME
        self.engine = sa.create_engine(f"sqlite:///{self.path}")
        sa.event.listen(self.engine, "connect", self._pragmas)
        _TABLE.create(self.engine, checkfirst=True)
        # One thread owns every write, so SQLite sees a single writer.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-offsets")
        self._queue: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    @staticmethod
    def _pragmas(conn: Any, _record: Any) -> None:
        cursor = conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # A commit survives a killed process; only a power cut can lose the last ones,
        # and then the broker's duplicate window drops the re-sent batches.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def load(self, source: str) -> list[TrackedFile]:
        """Every checkpoint of one source (read once at start, before the writer runs)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_TABLE).where(_TABLE.c.source == source)).mappings()
            return [
                TrackedFile(
                    source=r["source"],
                    path=r["path"],
                    dev=r["dev"],
                    inode=r["inode"],
                    fingerprint=r["fingerprint"],
                    generation=r["generation"],
                    offset=r["offset"],
                    line=r["line"],
                    tail=r["tail"],
                    pending_end=r["pending_end"],
                    pending_line=r["pending_line"],
                )
                for r in rows
            ]

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="ingest-offsets-writer")

    def save(self, state: TrackedFile) -> asyncio.Future[None]:
        """Queue the state of one file; the future resolves once it is committed."""
        row = _row(state)
        self._queue[(state.source, state.dev, state.inode)] = row
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            rows, waiters = list(self._queue.values()), self._waiters
            self._queue, self._waiters = {}, []
            if not rows:
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
                continue
            try:
                await loop.run_in_executor(self._thread, self._commit, rows)
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        stmt = sqlite_insert(_TABLE)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "dev", "inode"],
            set_={name: stmt.excluded[name] for name in _FIELDS},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)
        self.commits += 1

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close the database."""
        if self._queue:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(self.save_pending()), 10.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._queue:  # the writer was mid-flight or cancelled: commit directly
            rows = list(self._queue.values())
            self._queue.clear()
            await asyncio.get_running_loop().run_in_executor(self._thread, self._commit, rows)
        self._thread.shutdown(wait=True)
        self.engine.dispose()

    def save_pending(self) -> asyncio.Future[None]:
        """A future that resolves when everything queued so far is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future
