"""ingest-targets.sqlite: targets added over the API and each target's last status.

One writer task owns every write (WAL mode; batched SQLAlchemy core upserts);
reads happen once at start. Secrets never get here: a spec holds only the name
of an environment variable or a secrets-file key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert

from services.core.config.targets import TargetSpec
from services.core.sqlite import wal_engine
from services.ingest.targets import store_tables as tables
from services.ingest.targets.result import CheckResult

DB_NAME = "ingest-targets.sqlite"
BATCH = 500


REGISTRY = tables.target_registry
LAST = tables.target_last_status
Write = Callable[[sa.Connection], None]


class TargetStore:
    """The registry database of the ingest service's target component."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_NAME
        self.engine = wal_engine(self.path)
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future[None] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def open(self) -> tuple[list[TargetSpec], dict[str, CheckResult]]:
        """Create the schema; return the stored specs and last results (bad rows skipped)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tables.metadata.create_all(self.engine)
        specs: list[TargetSpec] = []
        last: dict[str, CheckResult] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(REGISTRY.c.id, REGISTRY.c.spec_json)):
                with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                    specs.append(msgspec.json.decode(row.spec_json, type=TargetSpec))
            for row in conn.execute(sa.select(LAST.c.id, LAST.c.result_json)):
                with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                    last[row.id] = msgspec.json.decode(row.result_json, type=CheckResult)
        return specs, last

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="targets-store-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._queue.put_nowait((_STOP, None))
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5.0)
        self.engine.dispose()

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            writes = [w for w, _ in batch if w is not _STOP]
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self._apply, writes)
            except Exception as exc:  # reported to each waiter; the writer lives on
                error = exc
            for _, future in batch:
                if future is not None and not future.done():
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
            if any(w is _STOP for w, _ in batch):
                return

    def _apply(self, writes: list[Write]) -> None:
        with self.engine.begin() as conn:
            for write in writes:
                write(conn)

    async def _submit(self, write: Write) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((write, future))
        await future

    async def save_spec(self, spec: TargetSpec, now: float) -> None:
        row = {"id": spec.id, "spec_json": msgspec.json.encode(spec).decode(), "updated_at": now}
        stmt = insert(REGISTRY).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=row)
        await self._submit(_execute(stmt))

    async def delete_spec(self, target_id: str) -> None:
        def write(conn: sa.Connection) -> None:
            conn.execute(sa.delete(REGISTRY).where(REGISTRY.c.id == target_id))
            conn.execute(sa.delete(LAST).where(LAST.c.id == target_id))

        await self._submit(write)

    def record(self, target_id: str, result: CheckResult) -> None:
        """Queue the last status of a target (not awaited: checks never wait on disk)."""
        slim = msgspec.structs.replace(result, samples=[])
        row = {
            "id": target_id,
            "status": result.status,
            "last_check": result.ts,
            "last_error": result.reason,
            "response_ms": result.response_ms,
            "result_json": msgspec.json.encode(slim).decode(),
        }
        stmt = insert(LAST).values(**row).on_conflict_do_update(index_elements=["id"], set_=row)
        self._queue.put_nowait((_execute(stmt), None))


def _execute(statement: sa.Executable) -> Write:
    def write(conn: sa.Connection) -> None:
        conn.execute(statement)

    return write


def _STOP(_conn: sa.Connection) -> None:
    """Marks the end of the writer's queue."""
