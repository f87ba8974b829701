"""The SSE hub: one NATS subscription fanned out to many browser and API clients.

Each client has a bounded queue; a client whose queue is full is dropped (it can
reconnect and resume), so one slow browser never slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.core.logs import get_logger

log = get_logger("gateway")

# Request/reply and command traffic is not an event stream for browsers.
_PRIVATE_FAMILIES = {"api", "cmd", "dlq", "audit"}


@dataclass(frozen=True)
class HubEvent:
    """One event as it goes to SSE clients."""

    id: str
    family: str
    subject: str
    data: str


@dataclass(frozen=True)
class ClientFilter:
    """What one SSE subscription wants: subject families, targets, severities (empty = all)."""

    families: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def wants(self, event: HubEvent) -> bool:
        if self.families and event.family not in self.families:
            return False
        tokens = event.subject.split(".")
        if (
            self.severities
            and event.family == "alert"
            and (len(tokens) < 3 or tokens[2] not in self.severities)
        ):
            return False
        return not (self.targets and not (set(tokens[2:]) & self.targets))


@dataclass(eq=False)
class HubClient:
    """A connected SSE client."""

    filter: ClientFilter
    queue: asyncio.Queue[HubEvent | None]
    dropped: bool = False
    sent: int = field(default=0)


class SseHub:
    """Fan-out of ``vigil.>`` events to SSE clients with per-client bounded queues."""

    def __init__(self, *, queue_size: int = 256, max_clients: int = 1000) -> None:
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.clients: set[HubClient] = set()
        self._sub: Subscription | None = None
        self._ids = itertools.count(1)
        self.published = 0
        self.dropped_clients = 0

    async def start(self, nc: Client) -> None:
        self._sub = await nc.subscribe("vigil.>", cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        for client in list(self.clients):
            self._drop(client)

    async def _on_msg(self, msg: Msg) -> None:
        tokens = msg.subject.split(".")
        family = tokens[1] if len(tokens) > 1 else ""
        if family in _PRIVATE_FAMILIES or msg.reply:
            return
        event = HubEvent(
            id=str(next(self._ids)),
            family=family,
            subject=msg.subject,
            data=msg.data.decode("utf-8", "replace"),
        )
        self.broadcast(event)

    def broadcast(self, event: HubEvent) -> None:
        self.published += 1
        for client in list(self.clients):
            if not client.filter.wants(event):
                continue
            try:
                client.queue.put_nowait(event)
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

    def connect(self, flt: ClientFilter) -> HubClient:
        client = HubClient(filter=flt, queue=asyncio.Queue(self.queue_size))
        self.clients.add(client)
        return client

    def disconnect(self, client: HubClient) -> None:
        self.clients.discard(client)

    async def events(self, client: HubClient, heartbeat_s: float) -> AsyncIterator[HubEvent | None]:
        """Yield the client's events; None means "send a heartbeat". Ends when dropped."""
        try:
            while not client.dropped:
                try:
                    event = await asyncio.wait_for(client.queue.get(), heartbeat_s)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                client.sent += 1
                yield event
        finally:
            self.disconnect(client)
