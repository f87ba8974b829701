"""Offsets checkpoint store: <data_dir>/ingest-offsets.sqlite, committed inline by the loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.core.logs import get_logger
from services.core.sqlite import wal_engine
from services.ingest.tail.checkpoint_tables import ingest_file_offsets
from services.ingest.tail.identity import TrackedFile

log = get_logger("ingest")
FILE_NAME = "ingest-offsets.sqlite"
# A checkpoint saved after an ack rides along with the next commit; at the latest this late.
FLUSH_DELAY_S = 0.2
# WAL pages are copied into the database by a thread this often (when anything was written),
# so the fsync of that copy never stalls the event loop that commits.
WAL_CHECKPOINT_S = 1.0


_TABLE = ingest_file_offsets
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


def _upsert() -> tuple[str, tuple[str, ...]]:
    """The upsert, compiled once by SQLAlchemy from the table: SQL text and parameter order."""
    stmt = sqlite_insert(_TABLE)
    upsert = stmt.on_conflict_do_update(
        index_elements=["source", "dev", "inode"],
        set_={name: stmt.excluded[name] for name in _FIELDS},
    )
    compiled = upsert.compile(dialect=sqlite_dialect())
    return str(compiled), tuple(compiled.positiontup or ())


_UPSERT, _COLUMNS = _upsert()


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
    """SQLite in WAL mode, one writing connection used only by the event loop.

    A commit without fsync (WAL, synchronous=NORMAL) of a few rows takes tens of
    microseconds, less than handing it to a thread and back, so ``commit`` runs inline:
    the intent before a publish costs the tailer almost nothing. The fsync lives in the
    WAL checkpoint, which a thread runs on its own connection.
    """

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / FILE_NAME
        # Checkpoints are the thread's job (see WAL_CHECKPOINT_S), never a commit's.
        self.engine = wal_engine(self.path, pragmas=("wal_autocheckpoint=0",))
        _TABLE.create(self.engine, checkfirst=True)
        self._conn: sa.Connection | None = None
        self._queue: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-offsets")
        self._task: asyncio.Task[None] | None = None
        self._written = False
        self.commits = 0
        self.wal_checkpoints = 0

    def load(self, source: str) -> list[TrackedFile]:
        """Every checkpoint of one source (read once when a source starts)."""
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
        self._conn = self.engine.connect()
        self._task = asyncio.create_task(self._checkpoints(), name="ingest-offsets-wal")

    def save(self, state: TrackedFile) -> None:
        """Queue the state of one file: committed with the next ``commit``, or soon after."""
        self._queue[(state.source, state.dev, state.inode)] = _row(state)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(FLUSH_DELAY_S, self._flush_soon)

    def commit(self, state: TrackedFile | None = None) -> None:
        """Commit ``state`` and everything queued, now; raises if SQLite cannot write."""
        if state is not None:
            self._queue[(state.source, state.dev, state.inode)] = _row(state)
        if not self._queue:
            return
        if self._conn is None:
            self._conn = self.engine.connect()
        rows, self._queue = self._queue, {}
        try:
            # The DB-API cursor directly: SQLAlchemy's per-execute work would be most of the cost.
            raw = self._conn.connection.driver_connection
            assert raw is not None
            raw.executemany(_UPSERT, [tuple(r[c] for c in _COLUMNS) for r in rows.values()])
            raw.commit()
        except Exception:
            with contextlib.suppress(Exception):
                self._conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
            # Keep them for the next attempt, unless a newer state was queued meanwhile.
            self._queue = {**rows, **self._queue}
            raise
        self._written = True
        self.commits += 1

    def _flush_soon(self) -> None:
        self._flush = None
        try:
            self.commit()
        except Exception as exc:
            log.warning("checkpoint commit failed; retrying", error=str(exc))
            self._flush = asyncio.get_running_loop().call_later(1.0, self._flush_soon)

    async def _checkpoints(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WAL_CHECKPOINT_S)
            if self._written:
                self._written = False
                try:
                    await loop.run_in_executor(self._thread, self._wal_checkpoint, "PASSIVE")
                except Exception as exc:
                    log.warning("WAL checkpoint failed", error=str(exc))

    def _wal_checkpoint(self, mode: str) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        self.wal_checkpoints += 1

    async def close(self) -> None:
        """Commit what is queued, fold the WAL into the database, close it."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        try:
            self.commit()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._wal_checkpoint, "TRUNCATE"
                )
            self._thread.shutdown(wait=True)
            self.engine.dispose()
