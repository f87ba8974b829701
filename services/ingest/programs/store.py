"""The programs database (<data_dir>/ingest-programs.sqlite): API-added programs, pids to adopt.

One writer task applies queued writes in batches (one transaction per batch); reads
happen once at start, before the writer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Connection, Engine

from services.core.config.programs import ProgramSpec
from services.core.logs import get_logger
from services.core.sqlite import wal_engine
from services.ingest.programs import store_tables as tables

DB_NAME = "ingest-programs.sqlite"
PROGRAMS = tables.ingest_program
RUNTIMES = tables.ingest_program_runtime
log = get_logger("ingest")


@dataclass(frozen=True)
class Runtime:
    """A stored runtime record."""

    pid: int
    create_time: float
    started_at: float
    restart_count: int
    last_exit_code: int | None


class ProgramStore:
    """Owns the SQLite file; ``save_*``/``forget_*`` queue writes for the writer task."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_NAME
        self.engine: Engine = wal_engine(self.path)
        tables.metadata.create_all(self.engine)
        self._queue: asyncio.Queue[tuple[str, str, dict[str, Any] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # -- reads (at start) ------------------------------------------------------

    def load_programs(self) -> list[tuple[str, ProgramSpec | str]]:
        """Stored API programs: (id, spec) or (id, why it cannot be decoded)."""
        out: list[tuple[str, ProgramSpec | str]] = []
        with self.engine.connect() as conn:
            for row in conn.execute(select(PROGRAMS.c.id, PROGRAMS.c.spec)):
                try:
                    out.append((row[0], msgspec.json.decode(row[1], type=ProgramSpec)))
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    out.append((row[0], f"stored definition unreadable: {exc}"))
        return out

    def load_runtimes(self) -> dict[str, Runtime]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(RUNTIMES)).all()
        return {
            r.id: Runtime(r.pid, r.create_time, r.started_at, r.restart_count, r.last_exit_code)
            for r in rows
        }

    # -- writes (queued) -------------------------------------------------------

    def save_program(self, spec: ProgramSpec) -> None:
        row = {"id": spec.id, "spec": msgspec.json.encode(spec).decode(), "updated_at": time.time()}
        self._put("program", spec.id, row)

    def forget_program(self, program_id: str) -> None:
        self._put("program", program_id, None)

    def save_runtime(self, program_id: str, runtime: Runtime) -> None:
        row = {
            "id": program_id,
            "pid": runtime.pid,
            "create_time": runtime.create_time,
            "started_at": runtime.started_at,
            "restart_count": runtime.restart_count,
            "last_exit_code": runtime.last_exit_code,
        }
        self._put("runtime", program_id, row)

    def forget_runtime(self, program_id: str) -> None:
        self._put("runtime", program_id, None)

    def _put(self, table: str, key: str, row: dict[str, Any] | None) -> None:
        self._idle.clear()
        self._queue.put_nowait((table, key, row))

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="programs-store-writer")

    async def flush(self) -> None:
        """Wait until every queued write is on disk."""
        if self._task is not None and not self._task.done():
            await self._idle.wait()
        else:
            self._apply(self._drain())

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.engine.dispose()

    def _drain(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first, *self._drain()]
            try:
                await asyncio.to_thread(self._apply, batch)
            except Exception as exc:  # a disk error must not kill supervision
                log.error("programs db write failed", error=repr(exc)[:300])
            if self._queue.empty():
                self._idle.set()

    def _apply(self, batch: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        if not batch:
            return
        with self.engine.begin() as conn:
            for table, key, row in batch:
                self._apply_one(conn, table, key, row)

    @staticmethod
    def _apply_one(conn: Connection, table: str, key: str, row: dict[str, Any] | None) -> None:
        tbl = PROGRAMS if table == "program" else RUNTIMES
        if row is None:
            conn.execute(delete(tbl).where(tbl.c.id == key))
            return
        stmt = insert(tbl).values(**row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=row))
