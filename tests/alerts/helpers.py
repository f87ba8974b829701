"""Shared helpers of the alerts tests: a controllable clock, a running service, event capture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.msg import Msg

from services.alerts.service import AlertsService
from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import wait_for

DURABLES = ("metric", "program", "work", "log", "parse", "kpi", "audit", "target")
STREAMS = {
    "metric": "VIGIL_METRIC", "program": "VIGIL_PROGRAM", "work": "VIGIL_WORK",
    "log": "VIGIL_LOG", "parse": "VIGIL_FILES", "kpi": "VIGIL_KPI", "audit": "VIGIL_AUDIT",
    "target": "VIGIL_TARGET",
}  # fmt: skip


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def alert_settings(make_settings: Any, rules_dir: Path, **alerts: Any) -> Settings:
    section = {"rules_dir": str(rules_dir), "default_rules": False, "tick_s": 0.05}
    section.update(alerts)
    settings: Settings = make_settings(alerts=section)
    return settings


@asynccontextmanager
async def running(settings: Settings, clock: FakeClock, bus: Bus) -> AsyncIterator[AlertsService]:
    async with AlertsService(settings, clock=clock) as svc:
        # Consumers start at "now": wait until they exist before publishing.
        for durable in DURABLES:

            async def bound(d: str = durable) -> bool:
                try:
                    await bus.js.consumer_info(STREAMS[d], f"alerts-{d}")
                    return True
                except Exception:
                    return False

            await wait_for(bound)
        yield svc  # type: ignore[misc]


class Captured:
    """AlertEvents seen on ``vigil.alert.>``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, contracts.AlertEvent]] = []

    async def on_msg(self, msg: Msg) -> None:
        self.events.append((msg.subject, msgspec.json.decode(msg.data, type=contracts.AlertEvent)))

    def states(self, rule: str | None = None) -> list[str]:
        return [e.state for _, e in self.events if rule is None or e.rule == rule]

    async def wait_state(self, state: str, rule: str | None = None, count: int = 1) -> None:
        await wait_for(lambda: self.states(rule).count(state) >= count)


@asynccontextmanager
async def capture(bus: Bus) -> AsyncIterator[Captured]:
    captured = Captured()
    sub = await bus.nc.subscribe("vigil.alert.>", cb=captured.on_msg)
    try:
        yield captured
    finally:
        await sub.unsubscribe()


async def send_metric(bus: Bus, name: str, value: float, ts: float, **labels: str) -> None:
    batch = contracts.MetricBatch(
        host="testhost",
        group="test",
        ts=ts,
        samples=[contracts.MetricSample(name=name, value=value, labels=labels)],
    )
    await bus.publish(contracts.metric("testhost", "test"), batch)


async def ask(bus: Bus, method: str, payload: Any = None) -> Any:
    data = await bus.request(contracts.api("alerts", method), payload or {})
    return msgspec.json.decode(data)


async def settle(svc: AlertsService) -> None:
    """Let queued deliveries finish and writes reach the database."""
    await svc.deliverer.idle()
    await svc.store.flush()
    await asyncio.sleep(0)
