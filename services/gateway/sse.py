"""The SSE hub: JetStream events fanned out to many browser and API clients, with resume.

The hub follows each stored stream (except audit and dead letters) with one ordered
push consumer (every event subject is stored, so nothing else is needed). Each
client has a bounded queue; a client whose queue is full is dropped (it reconnects
and resumes), so one slow browser never slows the others.

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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.core.bus import Bus
from services.core.logs import get_logger
from services.core.streams import STREAMS, StreamSpec
from services.gateway.sse_rows import ROWS_FAMILY, rows_data

log = get_logger("gateway")

# Request/reply and command traffic is not an event stream for browsers.
_PRIVATE_FAMILIES = {"api", "cmd", "dlq", "audit", "_INBOX"}
_FOLLOWED = tuple(s for s in STREAMS if s.name not in {"VIGIL_AUDIT", "VIGIL_DLQ"})


def short(stream: str) -> str:
    return stream.removeprefix("VIGIL_")


def family_of(subject: str) -> str:
    tokens = subject.split(".")
    return tokens[1] if len(tokens) > 1 else ""


@dataclass(frozen=True)
class HubEvent:
    """One event as it goes to SSE clients; ``stream``/``seq`` are empty for unstored ones."""

    family: str
    subject: str
    data: str
    stream: str = ""
    seq: int = 0
    # For a stored WorkBatch: its ``rows`` summary, sent with the same id (one queue item).
    rows: HubEvent | None = None

    @cached_property
    def frame_tail(self) -> bytes:
        """``event:`` and ``data:`` lines, encoded once and shared by every client."""
        lines = self.data.replace("\r", "").split("\n")
        body = "".join(f"data: {line}\n" for line in lines)
        return f"event: {self.family}\n{body}\n".encode()


@dataclass(frozen=True)
class ClientFilter:
    """What one SSE subscription wants: subject families, targets, severities (empty = all)."""

    families: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def wants(self, event: HubEvent) -> bool:
        if event.family == ROWS_FAMILY:
            # Derived: only for clients that name it (an unfiltered client gets ``work``).
            if ROWS_FAMILY not in self.families:
                return False
        elif self.families and event.family not in self.families:
            return False
        tokens = event.subject.split(".")
        if (
            self.severities
            and event.family == "alert"
            and (len(tokens) < 3 or tokens[2] not in self.severities)
        ):
            return False
        return not (self.targets and not (set(tokens[2:]) & self.targets))

    def patterns(self, spec: StreamSpec) -> list[str]:
        """The subjects of ``spec`` this filter can want (none: skip the stream)."""
        if not self.families:
            return list(spec.subjects)
        families = self.families | {"work"} if ROWS_FAMILY in self.families else self.families
        return [p for p in spec.subjects if family_of(p) in families]

    def parts(self, event: HubEvent) -> tuple[HubEvent, ...]:
        """What this client gets of one stored item: the event, its ``rows`` summary, both."""
        rows = event.rows
        if rows is None:
            return (event,) if self.wants(event) else ()
        wanted = tuple(e for e in (event, rows) if self.wants(e))
        return wanted


def stored_event(subject: str, payload: bytes, stream: str, seq: int) -> HubEvent:
    """A stored message as a hub event; a WorkBatch also gets its ``rows`` summary."""
    family = family_of(subject)
    rows = None
    if family == "work":
        text = rows_data(payload, subject, seq)
        if text is not None:
            rows = HubEvent(ROWS_FAMILY, subject, text, stream, seq)
    return HubEvent(family, subject, payload.decode("utf-8", "replace"), stream, seq, rows)


HEARTBEAT = HubEvent("", "", "")  # queued by the heartbeat loop; never sent as an event


def parse_position(text: str) -> dict[str, int]:
    """``KPI:12,ALERT:3`` → {"KPI": 12, "ALERT": 3}; junk is ignored (then no resume)."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, seq = part.strip().partition(":")
        if name and seq.isdigit() and len(out) < 32:
            out[name[:32]] = int(seq)
    return out


def format_position(position: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(position.items()))


@dataclass(eq=False)
class HubClient:
    """A connected SSE client and where it is in each stream."""

    filter: ClientFilter
    queue: asyncio.Queue[HubEvent | None]
    position: dict[str, int] = field(default_factory=dict)
    resume_from: dict[str, int] | None = None
    replaying: bool = False
    # Set when an event is queued; the heartbeat loop beats only clients that stayed idle.
    busy: bool = False
    dropped: bool = False
    sent: int = 0


class SseHub:
    """Fan-out of Vigil's events to SSE clients with per-client bounded queues."""

    def __init__(
        self,
        *,
        queue_size: int = 256,
        max_clients: int = 1000,
        resume_max: int = 2000,
        heartbeat_s: float = 15.0,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self._beats: asyncio.Task[None] | None = None
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.resume_max = resume_max
        self.clients: set[HubClient] = set()
        self.last_seq: dict[str, int] = {}
        self._subs: list[Any] = []
        self._bus: Bus | None = None
        self.published = 0
        self.dropped_clients = 0
        # Called with each event's family before fan-out (the reply cache drops stale answers).
        self.listeners: list[Callable[[str], None]] = []

    async def start(self, bus: Bus) -> None:
        self._bus = bus
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
        # One timer for all clients, instead of a timeout around every client's queue read.
        while True:
            await asyncio.sleep(self.heartbeat_s)
            for client in list(self.clients):
                if not client.busy:
                    with contextlib.suppress(asyncio.QueueFull):
                        client.queue.put_nowait(HEARTBEAT)
                client.busy = False

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
        for client in list(self.clients):
            if not client.filter.parts(event):
                continue
            try:
                client.queue.put_nowait(event)
                client.busy = True
            except asyncio.QueueFull:
                self._drop(client)

    def _drop(self, client: HubClient) -> None:
        if client in self.clients:
            self.clients.discard(client)
            client.dropped = True
            self.dropped_clients += 1
            # Wake the client's generator so it ends now, not at the next heartbeat.
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(None)

    def full(self) -> bool:
        return len(self.clients) >= self.max_clients

    def connect(self, flt: ClientFilter, last_event_id: str = "") -> HubClient:
        client = HubClient(filter=flt, queue=asyncio.Queue(self.queue_size))
        followed = {short(s.name) for s in _FOLLOWED if flt.patterns(s)}
        client.position = {k: v for k, v in self.last_seq.items() if k in followed}
        resume = {k: v for k, v in parse_position(last_event_id).items() if k in followed}
        if resume:
            client.resume_from = resume
            client.position.update(resume)
        self.clients.add(client)
        return client

    def disconnect(self, client: HubClient) -> None:
        self.clients.discard(client)

    def event_id(self, client: HubClient) -> str:
        return format_position(client.position)

    async def _replay(self, client: HubClient) -> AsyncIterator[HubEvent]:
        """Stored events after the client's resume position, oldest first, up to resume_max."""
        if self._bus is None or not client.resume_from:
            return
        budget = self.resume_max
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
                while budget > 0:
                    try:
                        msg = await sub.next_msg(timeout=2.0)
                    except Exception:
                        break
                    meta = msg.metadata
                    budget -= 1
                    yield stored_event(msg.subject, msg.data, name, meta.sequence.stream)
                    if meta.num_pending == 0:
                        break
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def batches(
        self, client: HubClient, heartbeat_s: float, most: int = 64
    ) -> AsyncIterator[list[HubEvent] | None]:
        """Like ``events`` but hands over everything already queued at once (fewer writes)."""
        batch: list[HubEvent] = []
        async for event in self.events(client, heartbeat_s):
            if event is None:
                yield None
                continue
            batch.append(event)
            # During a replay the queue holds later live events: they wait their turn.
            while len(batch) < most and not client.dropped and not client.replaying:
                try:
                    queued = client.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if queued is None or queued is HEARTBEAT:
                    break
                if queued.stream:
                    if queued.seq <= client.position.get(queued.stream, 0):
                        continue
                    client.position[queued.stream] = queued.seq
                client.sent += 1
                batch.append(queued)
            yield batch
            batch = []

    async def events(self, client: HubClient, heartbeat_s: float) -> AsyncIterator[HubEvent | None]:
        """Yield the client's events; None means "send a heartbeat" (the hub's own interval).

        ``heartbeat_s`` is kept for callers of the first version; the hub sets the pace.
        """
        try:
            client.replaying = bool(client.resume_from)
            async for old in self._replay(client):
                if client.filter.parts(old):
                    client.position[old.stream] = old.seq
                    client.sent += 1
                    yield old
            client.replaying = False
            while not client.dropped:
                event = await client.queue.get()
                if event is None:
                    return
                if event is HEARTBEAT:
                    yield None
                    continue
                if event.stream:
                    if event.seq <= client.position.get(event.stream, 0):
                        continue  # already sent during the replay
                    client.position[event.stream] = event.seq
                client.sent += 1
                yield event
        finally:
            self.disconnect(client)
