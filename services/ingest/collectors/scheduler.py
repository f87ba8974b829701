"""Runs each enabled collector at its own interval and publishes MetricBatch events.

Subjects: ``vigil.metric.<host>.<group>`` (groups ``host``, ``processes``, ``gpu``,
``mqtt``), durable in stream VIGIL_METRIC; the message id is host + group + time,
so a retried publish is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from services.core import contracts
from services.core.bus import Bus
from services.core.config.metrics import CollectorSettings
from services.core.contracts import MetricBatch, MetricSample
from services.core.logs import get_logger
from services.core.tasks import stop_tasks
from services.ingest.collectors.gpu import GpuCollector
from services.ingest.collectors.host import HostCollector
from services.ingest.collectors.mqtt import MqttBridge
from services.ingest.collectors.processes import ProcessCollector

log = get_logger("ingest")


class Collector(Protocol):
    group: str

    def collect(self) -> list[MetricSample]: ...


class CollectorScheduler:
    """Owns the collectors of one ingest process and their tasks."""

    def __init__(self, settings: CollectorSettings, bus: Bus, host: str) -> None:
        self.settings = settings
        self.bus = bus
        self.host = host
        self.tasks: list[asyncio.Task[None]] = []
        self.stop_event = asyncio.Event()
        self.published = 0
        self.errors = 0
        self.info: dict[str, str] = {}
        self.mqtt: MqttBridge | None = None
        self._gpu: GpuCollector | None = None

    async def emit(self, group: str, samples: list[MetricSample], ts: float | None = None) -> None:
        """Publish one batch durably; raises when JetStream does not answer."""
        stamp = time.time() if ts is None else ts
        batch = MetricBatch(host=self.host, group=group, ts=stamp, samples=samples)
        msg_id = f"{self.host}:{group}:{int(stamp * 1000)}"
        await self.bus.publish(contracts.metric(self.host, group), batch, msg_id=msg_id)
        self.published += 1

    async def start(self) -> None:
        cfg = self.settings
        if cfg.host.enabled:
            host = HostCollector(cfg.host)
            self._spawn(host, cfg.host.interval_s)
        if cfg.processes.enabled:
            self._spawn(ProcessCollector(cfg.processes), cfg.processes.interval_s)
        if cfg.gpu.enabled:
            gpu = GpuCollector()
            reason = await asyncio.to_thread(gpu.start)
            if reason:
                self.info["gpu"] = reason
                log.info(reason)
            else:
                self._gpu = gpu
                self._spawn(gpu, cfg.gpu.interval_s)
        if cfg.mqtt.enabled:
            self.mqtt = MqttBridge(cfg.mqtt, self.emit)
            self.tasks.append(asyncio.create_task(self.mqtt.run(self.stop_event), name="mqtt"))

    def _spawn(self, collector: Collector, interval: float) -> None:
        task = asyncio.create_task(
            self._loop(collector, interval), name=f"collect-{collector.group}"
        )
        self.tasks.append(task)

    async def _loop(self, collector: Collector, interval: float) -> None:
        collect: Callable[[], list[MetricSample]] = collector.collect
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            stamp = time.time()
            try:
                samples = await asyncio.to_thread(collect)
                if samples:
                    await self.emit(collector.group, samples, stamp)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed run must not end the collector
                self.errors += 1
                log.warning("collector run failed", group=collector.group, error=repr(exc)[:200])
            # Fixed-rate schedule; runs missed while busy are skipped, not queued.
            next_at += interval
            now = time.monotonic()
            if next_at < now:
                next_at = now + interval - ((now - next_at) % interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), next_at - now)

    async def stop(self) -> None:
        self.stop_event.set()
        await stop_tasks(self.tasks)
        if self._gpu is not None:
            self._gpu.stop()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric_batches": self.published, "collector_errors": self.errors}
        if self.mqtt is not None:
            out["mqtt"] = self.mqtt.stats()
        out.update({f"{k}_info": v for k, v in self.info.items()})
        return out
