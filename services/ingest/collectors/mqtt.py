"""The MQTT bridge: subscribe to topic filters, map messages to metrics, reconnect with backoff."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from services.core.config.metrics import MqttBridgeSettings
from services.core.contracts import MetricSample
from services.core.logs import get_logger
from services.ingest.collectors.mqtt_payload import MetricRejected, to_sample, topic_matches

if TYPE_CHECKING:
    import aiomqtt

log = get_logger("ingest")
Emit = Callable[[str, list[MetricSample]], Awaitable[None]]


class MqttBridge:
    """Keeps the last value of each mapped series and hands them to ``emit`` every interval."""

    group = "mqtt"

    def __init__(self, settings: MqttBridgeSettings, emit: Emit) -> None:
        self.settings = settings
        self.emit = emit
        self.pending: dict[tuple[str, tuple[tuple[str, str], ...]], MetricSample] = {}
        self.received = 0
        self.rejected = 0
        self.unmatched = 0
        self.connects = 0
        self.connected = False
        self.last_error = ""

    def handle(self, topic: str, payload: bytes) -> MetricSample | None:
        """Map one message; a bad one is counted and explained, never raised."""
        self.received += 1
        for mapping in self.settings.mappings:
            if not topic_matches(topic, mapping.topic):
                continue
            try:
                sample = to_sample(mapping, topic, payload)
            except MetricRejected as exc:
                self.rejected += 1
                self.last_error = str(exc)
                log.warning("mqtt payload rejected", reason=self.last_error[:300])
                return None
            self.pending[(sample.name, tuple(sorted(sample.labels.items())))] = sample
            return sample
        self.unmatched += 1
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe, read; on any broker failure wait (backoff) and try again."""
        import aiomqtt  # here: only a configured bridge needs the MQTT client

        flusher = asyncio.create_task(self._flush_loop(stop))
        delay = self.settings.reconnect_min_s
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await self._session(stop)
                except aiomqtt.MqttError as exc:
                    self.last_error = f"MQTT {self.settings.host}:{self.settings.port}: {exc}"
                    log.warning("mqtt disconnected", error=self.last_error[:200], retry_s=delay)
                finally:
                    self.connected = False
                if stop.is_set():
                    break
                if time.monotonic() - started > 10:
                    delay = self.settings.reconnect_min_s  # it was up a while: start over
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.settings.reconnect_max_s)
        finally:
            flusher.cancel()
            await self.flush()

    async def _session(self, stop: asyncio.Event) -> None:
        import aiomqtt

        cfg = self.settings
        async with aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username or None,
            password=cfg.password or None,
            identifier=cfg.client_id or None,
            timeout=10,
        ) as client:
            for topic in dict.fromkeys(m.topic for m in cfg.mappings):
                await client.subscribe(topic, qos=cfg.qos)
            self.connected = True
            self.connects += 1
            log.info("mqtt connected", host=cfg.host, port=cfg.port, filters=len(cfg.mappings))
            reader = asyncio.create_task(self._read(client))
            stopper = asyncio.create_task(stop.wait())
            try:
                done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                reader.cancel()
                stopper.cancel()
            if reader in done and reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
            self.handle(message.topic.value, bytes(data))

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.settings.interval_s)
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        samples = list(self.pending.values())
        self.pending.clear()
        try:
            await self.emit(self.group, samples)
        except Exception as exc:  # the bus is down: these values are gone, count it
            self.last_error = f"publish failed: {exc!r}"[:300]
            log.warning("mqtt batch not published", error=self.last_error)

    def stats(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "received": self.received,
            "rejected": self.rejected,
            "unmatched": self.unmatched,
            "connects": self.connects,
            "last_error": self.last_error,
        }
