"""The SSE hub: JetStream events fanned out to many browser and API clients, with resume.

The hub follows each stored stream (except audit and dead letters) with one ordered
push consumer (every event subject is stored, so nothing else is needed). Clients are
grouped by filter: what a filter wants of an event, and its encoded frames, is worked
out once per group, so the per-client cost of an event is an append to a list and, for
an idle client, one wake-up of its writer (services/gateway/sse_asgi.py).

Slow clients (DESIGN §9, docs/SSE.md): a client whose backlog exceeds ``queue_size``
events, or whose last write has waited on a full socket for more than ``stall_s``, is
dropped: it reconnects and resumes, and costs the others nothing meanwhile.

Resume: an event's SSE id is the client's position in every stream it follows,
``KPI:12,ALERT:3`` (stream name without ``VIGIL_``, last stream sequence sent). A
reconnecting client sends it back as ``Last-Event-ID``; the hub replays from each
stream after that sequence with a short-lived ordered consumer (at most
``resume_max`` events), then continues live, skipping live events already replayed.
A new client gets a ``hello`` event whose id is the current position, so even a
client that saw no event before it lost the connection resumes without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.core.bus import Bus
from services.core.logs import get_logger
from services.core.streams import STREAMS
from services.gateway.sse_filter import (
    ClientFilter,
    HubEvent,
    family_of,
    format_position,
    parse_position,
    short,
    stored_event,
)

__all__ = ["ClientFilter", "HubClient", "HubEvent", "SseHub", "family_of", "short"]

log = get_logger("gateway")

# Request/reply and command traffic is not an event stream for browsers.
_PRIVATE_FAMILIES = {"api", "cmd", "dlq", "audit", "_INBOX"}
_FOLLOWED = tuple(s for s in STREAMS if s.name not in {"VIGIL_AUDIT", "VIGIL_DLQ"})

# One queued item: the event and its frames for the client's filter group (shared by the
# group): all but the last frame, and the last (the one a write's ``id:`` line goes on).
Item = tuple[HubEvent, bytes, bytes]


@dataclass(eq=False)
class HubClient:
    """A connected SSE client: its backlog, where it is in each stream, its writer's state."""

    filter: ClientFilter
    position: dict[str, int] = field(default_factory=dict)
    resume_from: dict[str, int] | None = None
    replaying: bool = False
    # Events not yet written, oldest first; swapped out whole by the writer.
    pending: list[Item] = field(default_factory=list)
    # Set while the writer sleeps; the hub resolves it when there is something to do.
    waiter: asyncio.Future[None] | None = None
    beat_due: bool = False
    # time.monotonic() of the writer's last write, and of the start of the write it is
    # waiting on (0: none).
    last_write: float = 0.0
    writing_since: float = 0.0
    # The task writing this client's response (sse_asgi), cancelled if its write is stuck.
    writer: asyncio.Task[Any] | None = None
    dropped: bool = False
    stalled: bool = False
    sent: int = 0

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class SseHub:
    """Fan-out of Vigil's events to SSE clients with bounded per-client backlogs."""

    def __init__(
        self,
        *,
        queue_size: int = 256,
        max_clients: int = 1000,
        resume_max: int = 2000,
        heartbeat_s: float = 15.0,
        stall_s: float = 10.0,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.stall_s = stall_s
        self._beats: asyncio.Task[None] | None = None
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.resume_max = resume_max
        self.clients: set[HubClient] = set()
        # Clients by filter: per event, one decision and one encoding per group.
        self.groups: dict[ClientFilter, set[HubClient]] = {}
        self.last_seq: dict[str, int] = {}
        self._subs: list[Any] = []
        self._bus: Bus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0
        self.dropped_clients = 0
        self.stalled_clients = 0
        # Called with each event's family before fan-out (the reply cache drops stale answers).
        self.listeners: list[Callable[[str], None]] = []

    async def start(self, bus: Bus) -> None:
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        for spec in _FOLLOWED:
            try:
                info = await bus.js.stream_info(spec.name)
                last = info.state.last_seq
            except Exception as exc:
                log.warning("SSE cannot follow stream", stream=spec.name, error=repr(exc))
                continue
            self.last_seq[short(spec.name)] = last
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=last + 1,
                filter_subjects=list(spec.subjects),
            )
            sub = await bus.js.subscribe(
                spec.subjects[0],
                stream=spec.name,
                cb=self._on_stored,
                ordered_consumer=True,
                config=config,
            )
            self._subs.append(sub)
        # No core subscription on vigil.>: every event subject is stored, and a wildcard
        # listener would swallow the "no responders" answer of every vigil.api request.
        self._beats = asyncio.create_task(self._beat_loop(), name="sse-heartbeats")

    async def _beat_loop(self) -> None:
        # One timer for all clients: heartbeats for idle ones, drops for stalled ones.
        tick = min(1.0, self.heartbeat_s, self.stall_s / 2)
        while True:
            await asyncio.sleep(tick)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        for client in list(self.clients):
            if client.writing_since and now - client.writing_since > self.stall_s:
                # Its socket has been full for stall_s: it is not reading. Drop it, so it
                # holds no more memory than the transport's buffer, and let it resume.
                self.stalled_clients += 1
                log.info("SSE client stalled, dropped", stalled_s=round(now - client.writing_since))
                self._drop(client)
            elif now - client.last_write >= self.heartbeat_s and not client.pending:
                client.beat_due = True
                client.last_write = now
                client.wake()

    async def stop(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
            self._beats = None
        subs, self._subs = self._subs, []
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for client in list(self.clients):
            self._drop(client)

    async def _on_stored(self, msg: Msg) -> None:
        meta = msg.metadata
        stream = short(meta.stream)
        seq = meta.sequence.stream
        self.last_seq[stream] = max(self.last_seq.get(stream, 0), seq)
        if family_of(msg.subject) in _PRIVATE_FAMILIES:
            return
        self.broadcast(stored_event(msg.subject, msg.data, stream, seq))

    def broadcast(self, event: HubEvent) -> None:
        self.published += 1
        for listener in self.listeners:
            listener(event.family)
        limit = self.queue_size
        overflow: list[HubClient] = []
        for flt, members in self.groups.items():
            frames = flt.frames(event)
            if frames is None:
                continue
            item = (event, *frames)
            for client in members:
                pending = client.pending
                pending.append(item)
                if len(pending) > limit:
                    overflow.append(client)
                elif len(pending) == 1:
                    client.wake()
        for client in overflow:
            self._drop(client)

    def _drop(self, client: HubClient) -> None:
        """Drop a client that fell behind (it reconnects and resumes)."""
        if client in self.clients:
            self.dropped_clients += 1
        self.close(client)
        if client.writing_since and client.writer is not None:
            # Its writer waits on a full socket: only a cancel ends that wait.
            client.stalled = True
            client.writer.cancel()

    def close(self, client: HubClient) -> None:
        """Forget a client (gone, dropped or shutting down); its writer ends at once."""
        self.disconnect(client)
        client.dropped = True
        client.pending = []
        client.wake()

    def full(self) -> bool:
        return len(self.clients) >= self.max_clients

    def connect(self, flt: ClientFilter, last_event_id: str = "") -> HubClient:
        # Equal filters share one object, so the group's cached decisions are shared.
        for known in self.groups:
            if known == flt:
                flt = known
                break
        client = HubClient(filter=flt)
        client.last_write = time.monotonic()
        followed = {short(s.name) for s in _FOLLOWED if flt.patterns(s)}
        client.position = {k: v for k, v in self.last_seq.items() if k in followed}
        resume = {k: v for k, v in parse_position(last_event_id).items() if k in followed}
        if resume:
            client.resume_from = resume
            client.position.update(resume)
        self.clients.add(client)
        self.groups.setdefault(flt, set()).add(client)
        return client

    def disconnect(self, client: HubClient) -> None:
        self.clients.discard(client)
        members = self.groups.get(client.filter)
        if members is not None:
            members.discard(client)
            if not members:
                del self.groups[client.filter]

    def event_id(self, client: HubClient) -> str:
        return format_position(client.position)

    def take(self, client: HubClient) -> list[Item]:
        """The client's new events since the last call, in order, minus any already sent."""
        items, client.pending = client.pending, []
        if not items:
            return items
        position = client.position
        fresh: list[Item] = []
        for item in items:
            event = item[0]
            if event.stream:
                if event.seq <= position.get(event.stream, 0):
                    continue  # already sent during the replay
                position[event.stream] = event.seq
            fresh.append(item)
        client.sent += len(fresh)
        client.last_write = time.monotonic()
        return fresh

    async def wait(self, client: HubClient) -> None:
        """Until the client has events, a heartbeat is due or it was dropped."""
        if client.pending or client.beat_due or client.dropped:
            return
        # The hub's loop, not get_running_loop(): that one asks the kernel for the pid.
        client.waiter = (self._loop or asyncio.get_running_loop()).create_future()
        try:
            await client.waiter
        finally:
            client.waiter = None

    async def replay(self, client: HubClient) -> AsyncIterator[Item]:
        """Stored events after the client's resume position, oldest first, up to resume_max."""
        if self._bus is None or not client.resume_from:
            return
        client.replaying = True
        budget = self.resume_max
        try:
            for spec in _FOLLOWED:
                name = short(spec.name)
                start = client.resume_from.get(name)
                patterns = client.filter.patterns(spec)
                if start is None or not patterns or budget <= 0:
                    continue
                if start >= self.last_seq.get(name, 0):
                    continue
                config = ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=start + 1,
                    filter_subjects=patterns,
                )
                sub = await self._bus.js.subscribe(
                    patterns[0], stream=spec.name, ordered_consumer=True, config=config
                )
                try:
                    while budget > 0 and not client.dropped:
                        try:
                            msg = await sub.next_msg(timeout=2.0)
                        except Exception:
                            break
                        meta = msg.metadata
                        budget -= 1
                        old = stored_event(msg.subject, msg.data, name, meta.sequence.stream)
                        frames = client.filter.frames(old)
                        if frames is not None:
                            client.position[name] = old.seq
                            client.sent += 1
                            yield old, *frames
                        if meta.num_pending == 0:
                            break
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
        finally:
            client.replaying = False

    async def events(self, client: HubClient, heartbeat_s: float) -> AsyncIterator[HubEvent | None]:
        """Yield the client's events one by one; None means "send a heartbeat".

        For handlers that shape each event themselves (the alerts stream); the main stream
        writes the pre-encoded frames instead (sse_asgi). ``heartbeat_s`` is kept for
        callers of the first version; the hub sets the pace.
        """
        try:
            async for old, _head, _last in self.replay(client):
                yield old
            while not client.dropped:
                await self.wait(client)
                if client.beat_due and not client.pending:
                    client.beat_due = False
                    yield None
                    continue
                client.beat_due = False
                for event, _head, _last in self.take(client):
                    yield event
        finally:
            self.disconnect(client)
