"""A reply cache for request/reply queries, dropped when a matching event family arrives.

Many browsers asking the same KPI question cost one NATS request per change, not one
per browser: an entry lives until its TTL ends or an event of one of its families
(e.g. ``kpi``) passes through the SSE hub. Concurrent misses share one request.
Each entry carries an ETag (a hash of the encoded answer) for conditional GETs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

Key = tuple[str, str, bytes]


@dataclass(frozen=True)
class Cached:
    value: Any
    body: bytes
    etag: str
    expires: float
    families: frozenset[str]


class ReplyCache:
    """TTL + event-invalidated cache with single-flight misses."""

    def __init__(self, ttl_s: float = 10.0, max_entries: int = 1000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Key, Cached] = {}
        self._inflight: dict[Key, asyncio.Future[Cached]] = {}
        self.hits = 0
        self.misses = 0

    async def get(
        self,
        service: str,
        method: str,
        payload: Any,
        fetch: Callable[[], Awaitable[Any]],
        families: Iterable[str] = ("kpi",),
    ) -> Cached:
        key = (service, method, msgspec.json.encode(payload))
        entry = self._entries.get(key)
        if entry is not None and entry.expires > time.monotonic():
            self.hits += 1
            return entry
        waiting = self._inflight.get(key)
        if waiting is not None:
            self.hits += 1
            return await asyncio.shield(waiting)
        self.misses += 1
        future: asyncio.Future[Cached] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
            body = msgspec.json.encode(value)
            entry = Cached(
                value=value,
                body=body,
                etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
                expires=time.monotonic() + self.ttl_s,
                families=frozenset(families),
            )
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = entry
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, family: str) -> None:
        for key, entry in list(self._entries.items()):
            if family in entry.families:
                del self._entries[key]

    def on_event(self, family: str) -> None:
        """Hook for the SSE hub: any event of a family drops the answers that depend on it."""
        if self._entries:
            self.invalidate(family)
