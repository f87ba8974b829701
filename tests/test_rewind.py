"""services/core/rewind.py: messages a consumer left unacked come back at once and in order."""

from __future__ import annotations

from nats.js.api import AckPolicy, ConsumerConfig

from services.core.bus import Bus
from services.core.rewind import rewind_orphans


async def test_unacked_messages_come_back_in_order_without_waiting_for_ack_wait(
    bus: Bus,
) -> None:
    await bus.js.add_stream(name="REWIND_T", subjects=["rewind.t.>"])
    for i in range(1, 11):
        await bus.js.publish("rewind.t.x", str(i).encode())
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    sub = await bus.js.pull_subscribe("rewind.t.>", durable="d", stream="REWIND_T", config=config)
    first = await sub.fetch(3, timeout=2)
    for msg in first[:2]:
        await msg.ack_sync()  # 1 and 2 done; 3 fetched and "lost" with a killed process
    nothing = await rewind_orphans(bus, "REWIND_T", "missing")
    assert nothing == 0
    pending = await rewind_orphans(bus, "REWIND_T", "d")
    assert pending == 1
    again = await sub.fetch(10, timeout=2)
    # Message 3 first (not 30 s later behind 4..10), then the rest, each once.
    assert [m.data for m in again] == [str(i).encode() for i in range(3, 11)]
    for msg in again:
        await msg.ack_sync()
    assert await rewind_orphans(bus, "REWIND_T", "d") == 0  # nothing pending: untouched
