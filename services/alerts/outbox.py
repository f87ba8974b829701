"""Durable hand-off of what the engine decided: one transaction, then publish and deliver.

Each flush writes the transitions, the alerts' new state, the AlertEvents to publish, the
notifications to send and the newest sample time per watched series in ONE SQLite
transaction, and only then returns (so the consumer acks its messages only after that).
A publisher task and the deliverer send from those outbox rows and mark them done; rows
still pending at start-up (a crash between commit and send) are sent again. So delivery
is at-least-once; every notification carries a stable ``delivery_id`` and every AlertEvent
a stable ``Nats-Msg-Id``, with which a receiver (or JetStream) drops the repeat.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from services.alerts.fatigue import Notice
from services.core import contracts
from services.core.tasks import stop_tasks

if TYPE_CHECKING:
    from services.alerts.engine import AlertEngine
    from services.alerts.receivers import Deliverer
    from services.alerts.store import AlertStore
    from services.core.bus import Bus

# Delivered notifications stay this long beside the delivery log, then are pruned.
KEEP_DELIVERED_S = 7 * 86400


def notice_row(notice: Notice) -> dict[str, Any]:
    return {
        "delivery_id": notice.delivery_id,
        "receiver": notice.receiver,
        "kind": notice.kind,
        "group_key": notice.group_key,
        "alerts": json.dumps(notice.alerts, ensure_ascii=False),
        "created_at": notice.created_at,
        "status": "pending",
        "done_at": None,
    }


def notice_from_row(row: Any) -> Notice:
    return Notice(
        row["receiver"], row["kind"], row["group_key"], json.loads(row["alerts"]),
        row["created_at"], delivery_id=row["delivery_id"],
    )  # fmt: skip


def series_id(key: tuple[str, tuple[tuple[str, str], ...]]) -> str:
    return json.dumps([key[0], [list(kv) for kv in key[1]]], ensure_ascii=False)


def series_key(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    name, labels = json.loads(text)
    return name, tuple((str(k), str(v)) for k, v in labels)


_encode = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(contracts.AlertEvent).decode


class Outbox:
    """Commits each flush of the engine, then publishes its events and delivers its notices."""

    def __init__(
        self,
        store: AlertStore,
        deliverer: Deliverer,
        bus: Bus,
        stopping: asyncio.Event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.deliverer = deliverer
        self.bus = bus
        self.stopping = stopping
        self.clock = clock
        self.events: asyncio.Queue[tuple[str, str, contracts.AlertEvent]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def start(self) -> None:
        """Send what a previous run committed but did not finish sending, then serve."""
        notices, events = self.store.load_outbox(self.clock() - KEEP_DELIVERED_S)
        for msg_id, subject, payload in events:
            self.events.put_nowait((msg_id, subject, _decode_event(payload)))
        for notice in notices:
            self.deliverer.submit(notice)
        self._task = asyncio.create_task(self._publisher(), name="alerts-event-outbox")

    async def close(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])

    async def idle(self) -> None:
        """Wait until every committed AlertEvent is published (tests, shutdown)."""
        await self.events.join()

    async def flush(self, engine: AlertEngine) -> None:
        """Commit everything the engine decided since the last flush, then send it."""
        transitions, notices = engine.drain()
        marks = engine.drain_marks()
        ops: list[tuple[str, Any]] = []
        events: list[tuple[str, str, contracts.AlertEvent]] = []
        for tr in transitions:
            ops.append(self.store.transition_op(tr))
            ops.append(self.store.alert_op(tr.alert))
            if tr.publish:
                event = tr.alert.event(tr.to_state, tr.ts, tr.by)
                subject = contracts.alert(event.severity, event.rule)
                # The transition's identity: JetStream drops a second copy of it.
                msg_id = f"{event.fingerprint}:{event.state}:{event.ts:.6f}"
                row = {"msg_id": msg_id, "subject": subject, "payload": _encode(event)}
                ops.append(("event_out", {**row, "created_at": tr.ts}))
                events.append((msg_id, subject, event))
        notified: set[str] = set()
        for notice in notices:
            notice.delivery_id = notice.delivery_id or uuid.uuid4().hex
            ops.append(("outbox", notice_row(notice)))
            notified.update(a["fingerprint"] for a in notice.alerts)
        for fp in notified:
            last = engine.last_notified.get(fp)
            if last is not None:
                ops.append(("notified", {"fingerprint": fp, "last_notified_at": last}))
            alert = engine.alerts.get(fp)
            if alert is not None:
                ops.append(self.store.alert_op(alert))
        for key, ts in marks.items():
            ops.append(("mark", {"series": series_id(key), "ts": ts}))
        if not ops:
            return
        await self.store.commit(ops)
        for item in events:
            self.events.put_nowait(item)
        for notice in notices:
            self.deliverer.submit(notice)

    async def _publisher(self) -> None:
        """Publish committed AlertEvents in order; retry until stored (the msg id dedupes)."""
        while True:
            msg_id, subject, event = await self.events.get()
            try:
                while True:
                    try:
                        ack = await self.bus.publish_retrying(
                            subject, event, msg_id=msg_id, stop=self.stopping
                        )
                        break
                    except Exception as exc:  # never let one odd failure end publishing
                        self.bus.log.warning("alert event publish failed", error=repr(exc)[:200])
                        await asyncio.sleep(0.5)
                if ack is not None:
                    self.published += 1
                    self.store.put("event_done", msg_id)
            finally:
                self.events.task_done()
