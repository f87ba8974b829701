"""Rewind a durable consumer (at start-up and after each reconnect: ``Bus.consume(rewind=True)``)
so unacked messages come back now, in order, instead of ``ack_wait`` later behind newer ones.

A process killed while handling a fetched batch leaves those messages pending on its
durable consumer; JetStream redelivers them only after ``ack_wait`` (30 s), by which time
the restarted process has stored newer samples (the same when a broker restart loses a
fetched batch in flight), so a consumer that keeps "newest sample
time per series" (analyzer history, the alert engine) would drop them as old: lost.
Resetting the consumer to its ack floor redelivers them first; the messages after the
floor that were already acked come again too, and that consumer's per-series time check
drops those as duplicates. Only for a durable that one process owns (as each partition's
consumers are): a peer sharing it would see its own pending messages redelivered.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors

if TYPE_CHECKING:
    from services.core.bus import Bus


async def rewind_orphans(bus: Bus, stream: str, durable: str) -> int | None:
    """If ``durable`` has unacked messages, reset it to its ack floor (JetStream's atomic
    consumer reset, server 2.14+: nothing is deleted, so a crash in between loses nothing);
    returns how many messages were pending (0: nothing done; None: the broker could not be
    asked, try again)."""
    try:
        info = await bus.js.consumer_info(stream, durable)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        pending = info.num_ack_pending or 0
        if not pending or not floor:
            # Nothing pending, or nothing acked yet (a floor of 0 would replay the whole stream).
            return 0
        prefix = getattr(bus.js, "_prefix", "$JS.API")
        reply = await bus.nc.request(f"{prefix}.CONSUMER.RESET.{stream}.{durable}", b"", timeout=2)
    except nats.js.errors.NotFoundError:
        return 0
    except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
        bus.log.warning("consumer rewind failed", durable=durable, error=type(exc).__name__)
        return None
    error = json.loads(reply.data or b"{}").get("error")
    if error:
        bus.log.warning("consumer rewind refused", durable=durable, error=str(error)[:200])
        return 0
    bus.log.info("consumer rewound", durable=durable, pending=pending, from_seq=floor + 1)
    return pending
