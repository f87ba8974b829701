"""One SSE client's HTTP response as a raw ASGI app: pre-encoded frames, one send per wake-up.

The route handler (routes/api.py) authenticates, checks the cap and parses the filter,
then returns ``SseResponse``; Litestar hands the connection to ``SseStream``, which
writes the hub's shared frames straight to the server's ``send``, without a generator
chain or a task group per client. A second, idle task per client waits for the
disconnect. Each write is timed (``writing_since``) so the hub can drop a client whose
socket stays full (docs/SSE.md, "Slow clients").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

from litestar.datastructures import Cookie
from litestar.response import Stream
from litestar.types import Message, Receive, Scope, Send

from services.core.logs import get_logger
from services.gateway.sse import HubClient, Item, SseHub
from services.gateway.sse_filter import format_position

log = get_logger("gateway")

# Replayed events go out in writes of at most this many.
REPLAY_BATCH = 64
BASE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class SseStream:
    """The ASGI app that streams one hub client's events until it goes or is dropped."""

    def __init__(self, hub: SseHub, client: HubClient) -> None:
        self.hub = hub
        self.client = client
        self.headers = list(BASE_HEADERS)

    def add_headers(self, headers: dict[str, str] | None, cookies: Iterable[Cookie]) -> None:
        """Headers and cookies Litestar's layers set for the response (none by default)."""
        have = {name for name, _ in self.headers}
        for name, value in (headers or {}).items():
            if name.lower().encode() not in have:
                self.headers.append((name.lower().encode(), value.encode("latin-1")))
        for cookie in cookies:
            self.headers.append(cookie.to_encoded_header())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub, client = self.hub, self.client
        client.writer = asyncio.current_task()
        watcher = asyncio.create_task(self._watch(receive), name="sse-disconnect")
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            hello = _id_line(hub.event_id(client))
            await self._write(send, b"retry: 2000\nevent: hello\n" + hello + b"data: {}\n\n")
            # Replayed events each carry their id (a replay cut short resumes exactly).
            batch: list[bytes] = []
            async for item in hub.replay(client):
                batch.append(self._encode([item]))
                if len(batch) >= REPLAY_BATCH:
                    await self._write(send, b"".join(batch))
                    batch = []
            if batch:
                await self._write(send, b"".join(batch))
            while not client.dropped:
                await hub.wait(client)
                items = hub.take(client)
                if items:
                    client.beat_due = False
                    await self._write(send, self._encode(items))
                elif client.beat_due and not client.dropped:
                    client.beat_due = False
                    await self._write(send, b": heartbeat\n\n")
            # Dropped or shut down: end the chunked body, unless the socket stays full (the
            # client is out of the hub, so the stall rule must be applied here).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._write(send, b"", more=False), hub.stall_s)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not client.stalled or task is None:
                raise
            # The hub cancelled a write stuck on a full socket: the response ends here (the
            # server closes the connection once its buffer drains or the peer goes).
            task.uncancel()
        finally:
            client.writer = None
            watcher.cancel()
            hub.disconnect(client)

    async def _write(self, send: Send, body: bytes, more: bool = True) -> None:
        client = self.client
        client.writing_since = time.monotonic()
        message: Message = {"type": "http.response.body", "body": body, "more_body": more}
        await send(message)
        client.writing_since = 0.0
        client.last_write = time.monotonic()

    async def _watch(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception as exc:  # a server that raises instead: the client is gone all the same
            log.debug("SSE receive failed", error=repr(exc)[:200])
        self.hub.close(self.client)

    def _encode(self, items: list[Item]) -> bytes:
        """The items' frames; the last carries the client's position as its ``id:``."""
        event, head, last = items[-1]
        ident = _id_line(format_position(self.client.position)) if event.stream else b""
        if len(items) == 1:
            return head + ident + last
        parts: list[bytes] = []
        for _event, h, t in items[:-1]:
            parts += (h, t)
        parts += (head, ident, last)
        return b"".join(parts)


def _id_line(ident: str) -> bytes:
    return f"id: {ident}\n".encode() if ident else b""


class SseResponse(Stream):
    """A Litestar response that hands the connection to an ``SseStream``."""

    def __init__(self, stream: SseStream) -> None:
        super().__init__((), media_type="text/event-stream")
        self.stream = stream

    def to_asgi_response(  # type: ignore[override]
        self,
        app: Any,
        request: Any,
        *,
        headers: dict[str, str] | None = None,
        cookies: Iterable[Cookie] | None = None,
        **_: Any,
    ) -> Any:
        self.stream.add_headers(headers, cookies or ())
        return self.stream
