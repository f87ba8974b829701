"""Best-effort side channel for FileChanged, IngestProgress and metrics: never slows tailing."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from services.core.bus import Bus
from services.core.logs import get_logger
from services.core.tasks import stop_tasks

log = get_logger("ingest")


class Outbox:
    """A bounded queue drained by one task; full means the oldest news is dropped, not the data."""

    def __init__(self, bus: Bus, capacity: int = 20_000) -> None:
        self.bus = bus
        self.queue: asyncio.Queue[tuple[str, msgspec.Struct]] = asyncio.Queue(capacity)
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._send(), name="ingest-outbox")

    def put(self, subject: str, event: msgspec.Struct) -> None:
        try:
            self.queue.put_nowait((subject, event))
        except asyncio.QueueFull:
            self.dropped += 1
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait((subject, event))

    async def _send(self) -> None:
        while True:
            subject, event = await self.queue.get()
            for attempt in range(3):
                try:
                    await self.bus.publish(subject, event, timeout=2.0)
                    break
                except Exception as exc:
                    if attempt == 2:
                        self.dropped += 1
                        log.warning("side event dropped", subject=subject, error=type(exc).__name__)
                    else:
                        await asyncio.sleep(0.2 * (attempt + 1))

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.queue.empty() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self._task is not None:
            await stop_tasks([self._task])
