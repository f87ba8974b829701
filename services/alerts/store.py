"""alerts.sqlite: current alerts, every transition, silences, the delivery log and the outbox
(services/alerts/outbox.py); one writer task. Schema: store_models.py (tables generated)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.alerts import store_tables as tables
from services.alerts.alert import Alert, Transition
from services.alerts.model import Silence
from services.alerts.outbox import notice_from_row, series_key
from services.core.sqlite import wal_engine

T = TypeVar("T")


ALERT_T = tables.alerts_current
TRANSITION_T = tables.alerts_transition
NOTIFIED_T = tables.alerts_notified
SILENCE_T = tables.alerts_silence
DELIVERY_T = tables.alerts_delivery
OUTBOX_T = tables.alerts_outbox
EVENT_OUT_T = tables.alerts_event_outbox
MARK_T = tables.alerts_series_mark


class AlertStore:
    """Writes go through one queue and one writer task; reads use their own connections."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = wal_engine(path)
        tables.metadata.create_all(self.engine)
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ writer

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="alerts-store-writer")

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self.queue.empty():  # put after the last flush: fail, never hang
            op, payload = self.queue.get_nowait()
            if op == "group" and not payload[1].done():
                payload[1].set_exception(RuntimeError("alerts store is closed"))
        self.engine.dispose()

    async def flush(self) -> None:
        """Wait until every queued write is on disk."""
        if self._task is not None and not self._task.done():
            await self.queue.join()

    def put(self, op: str, payload: Any) -> None:
        self.queue.put_nowait((op, payload))

    async def commit(self, ops: list[tuple[str, Any]]) -> None:
        """Write ``ops`` in one transaction and return once it is on disk (raises if not)."""
        if self._task is None or self._task.done():
            raise RuntimeError("alerts store is closed")  # nobody would ever answer
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(("group", (ops, done)))
        await done

    async def _writer(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while not self.queue.empty() and len(batch) < 1000:
                batch.append(self.queue.get_nowait())
            waiting = [p[1] for op, p in batch if op == "group"]
            try:
                await asyncio.to_thread(self._write_batch, batch)
            except BaseException as exc:  # a failed batch must not stop the writer
                if not isinstance(exc, asyncio.CancelledError):
                    from services.core.logs import get_logger

                    get_logger("alerts").exception("store write failed", error=repr(exc)[:300])
                # Whoever waits on a group must hear of it, even when the writer is cancelled.
                failure = exc if isinstance(exc, Exception) else RuntimeError("store closed")
                for fut in waiting:
                    if not fut.done():
                        fut.set_exception(failure)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                for fut in waiting:
                    if not fut.done():
                        fut.set_result(None)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _write_batch(self, batch: list[tuple[str, Any]]) -> None:
        transitions: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            flat: list[tuple[str, Any]] = []
            for op, payload in batch:
                # A group (one flush of the engine) is never split across transactions.
                flat.extend(payload[0] if op == "group" else [(op, payload)])
            for op, payload in flat:
                if op == "transition":
                    transitions.append(payload)
                elif op == "delivery":
                    deliveries.append(payload)
                elif op in _OUTBOX_OPS:
                    _OUTBOX_OPS[op](conn, payload)
                elif op == "alert":
                    stmt = sqlite_insert(ALERT_T).values(**payload)
                    conn.execute(
                        stmt.on_conflict_do_update(index_elements=["fingerprint"], set_=payload)
                    )
                elif op == "alert_gone":
                    conn.execute(delete(ALERT_T).where(ALERT_T.c.fingerprint == payload))
                elif op == "notified":
                    stmt = sqlite_insert(NOTIFIED_T).values(**payload)
                    conn.execute(
                        stmt.on_conflict_do_update(index_elements=["fingerprint"], set_=payload)
                    )
                elif op == "silence":
                    stmt = sqlite_insert(SILENCE_T).values(**payload)
                    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=payload))
                elif op == "silence_end":
                    sid, ends = payload
                    table = SILENCE_T
                    conn.execute(update(table).where(table.c.id == sid).values(ends_at=ends))
            if transitions:
                conn.execute(insert(TRANSITION_T), transitions)
            if deliveries:
                conn.execute(insert(DELIVERY_T), deliveries)

    # ------------------------------------------------------------ write helpers

    def record(self, tr: Transition) -> None:
        self.put(*self.transition_op(tr))

    def transition_op(self, tr: Transition) -> tuple[str, Any]:
        snap = tr.snapshot
        return (
            "transition",
            {
                "ts": tr.ts,
                "fingerprint": snap["fingerprint"],
                "rule": snap["rule"],
                "severity": snap["severity"],
                "from_state": tr.from_state,
                "to_state": tr.to_state,
                "value": snap["value"],
                "labels": json.dumps(snap["labels"], ensure_ascii=False),
                "summary": snap["summary"],
                "by": tr.by,
                "note": tr.note,
            },
        )

    def save_alert(self, alert: Alert) -> None:
        self.put(*self.alert_op(alert))

    def alert_op(self, alert: Alert) -> tuple[str, Any]:
        if alert.state in ("pending", "firing", "acknowledged"):
            return (
                "alert",
                {
                    "fingerprint": alert.fingerprint,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "state": alert.state,
                    "data": json.dumps(alert.to_dict(), ensure_ascii=False),
                    "updated_at": alert.updated_at,
                },
            )
        return ("alert_gone", alert.fingerprint)

    # ------------------------------------------------------------ reads

    async def read(self, fn: Callable[[Any], T]) -> T:
        def run() -> T:
            with self.engine.connect() as conn:
                return fn(conn)

        return await asyncio.to_thread(run)

    def load_state(self) -> tuple[list[Alert], dict[str, float], list[Silence]]:
        """Everything the engine needs after a restart (read before the writer starts)."""
        with self.engine.connect() as conn:
            alerts = [
                Alert.from_dict(json.loads(row.data)) for row in conn.execute(select(ALERT_T))
            ]
            notified = {
                row.fingerprint: row.last_notified_at for row in conn.execute(select(NOTIFIED_T))
            }
            silences = [silence_from_row(row._mapping) for row in conn.execute(select(SILENCE_T))]
        return alerts, notified, silences

    def load_marks(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The newest evaluated sample time per watched series (read before the writer starts)."""
        with self.engine.connect() as conn:
            return {series_key(row.series): row.ts for row in conn.execute(select(MARK_T))}

    def load_outbox(self, prune_before: float) -> tuple[list[Any], list[tuple[str, str, bytes]]]:
        """Notifications and AlertEvents committed but not yet sent; prunes old delivered rows."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(OUTBOX_T).where(
                    OUTBOX_T.c.status != "pending", OUTBOX_T.c.done_at < prune_before
                )
            )
            pending = OUTBOX_T.c.status == "pending"
            rows = conn.execute(select(OUTBOX_T).where(pending).order_by(OUTBOX_T.c.created_at))
            notices = [notice_from_row(row._mapping) for row in rows]
            events = [
                (row.msg_id, row.subject, bytes(row.payload))
                for row in conn.execute(select(EVENT_OUT_T).order_by(EVENT_OUT_T.c.created_at))
            ]
        return notices, events


def _upsert(table: Table, key: str) -> Callable[[Any, dict[str, Any]], None]:
    def run(conn: Any, row: dict[str, Any]) -> None:
        stmt = sqlite_insert(table).values(**row)
        conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=row))

    return run


def _outbox_done(conn: Any, payload: tuple[str, str, float]) -> None:
    delivery_id, status, at = payload
    conn.execute(
        update(OUTBOX_T)
        .where(OUTBOX_T.c.delivery_id == delivery_id)
        .values(status=status, done_at=at)
    )


def _event_done(conn: Any, msg_id: str) -> None:
    conn.execute(delete(EVENT_OUT_T).where(EVENT_OUT_T.c.msg_id == msg_id))


# Writes of the outbox (services/alerts/outbox.py), by op name.
_OUTBOX_OPS: dict[str, Callable[[Any, Any], None]] = {
    "outbox": _upsert(OUTBOX_T, "delivery_id"),
    "outbox_done": _outbox_done,
    "event_out": _upsert(EVENT_OUT_T, "msg_id"),
    "event_done": _event_done,
    "mark": _upsert(MARK_T, "series"),
}


def silence_from_row(row: Any) -> Silence:
    return Silence(
        id=row["id"],
        matchers=json.loads(row["matchers"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        reason=row["reason"],
        created_at=row["created_at"],
    )


def silence_row(silence: Silence) -> dict[str, Any]:
    row = silence.to_dict()
    row["matchers"] = json.dumps(silence.matchers, ensure_ascii=False)
    return row
