"""The alerts service: consumes metrics and events, evaluates rules, stores, publishes, notifies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.msg import Msg

from services.alerts.engine import AlertEngine, Clock, EngineOptions
from services.alerts.outbox import Outbox
from services.alerts.receivers import Deliverer
from services.alerts.rpc import AlertsApi
from services.alerts.rules import RuleSet, load_rules, owned_rules
from services.alerts.store import AlertStore
from services.core import contracts
from services.core.config import Settings
from services.core.partition import claim_rpc_partition, rpc_token, suffix, watch_peers
from services.core.service import VigilService
from services.core.tasks import stop_tasks


class AlertsService(VigilService):
    """Evaluates rules over metrics and events; publishes AlertEvents."""

    name = "alerts"

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        super().__init__(settings)
        self.clock = clock
        self._consumers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    @property
    def partition(self) -> tuple[int, int]:
        """(this instance's index, how many instances share the rules)."""
        return self.settings.alerts.partition, self.settings.alerts.partitions

    @property
    def db_path(self) -> Path:
        """``alerts.sqlite``, or ``alerts-p<k>.sqlite`` per partition: one writer each."""
        return self.settings.data_path / f"alerts{suffix(*self.partition)}.sqlite"

    @property
    def owned(self) -> list[Any]:
        """The rules this instance evaluates (all of them unless partitioned)."""
        return owned_rules(self.ruleset.rules, *self.partition)

    @property
    def rules_dir(self) -> Path:
        cfg = self.settings.alerts
        return (
            Path(cfg.rules_dir).expanduser()
            if cfg.rules_dir
            else self.settings.data_path / "alerts" / "rules"
        )

    async def start(self) -> None:
        cfg = self.settings.alerts
        await claim_rpc_partition(self.bus, self.name, rpc_token(*self.partition), self._health)
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        self.store = AlertStore(self.db_path)
        self.ruleset = self._load()
        options = EngineOptions(
            repeat_s=cfg.repeat_interval_s,
            group_wait_s=cfg.group_wait_s,
            flap_window_s=cfg.flap_window_s,
            flap_threshold=cfg.flap_threshold,
            default_notify=tuple(cfg.default_notify),
        )
        self.engine = AlertEngine(self.owned, options, self.clock)
        alerts, notified, silences = self.store.load_state()
        self.engine.restore(alerts, notified, self.store.load_marks())
        self.engine.silences = silences
        self.store.start()
        self.stack.push_async_callback(self.store.close)
        self.deliverer = Deliverer(self.store, concurrency=cfg.delivery_concurrency)
        self.deliverer.set_receivers(self.ruleset.receivers)
        self.deliverer.start()
        self.stack.push_async_callback(self.deliverer.close)
        self.outbox = Outbox(self.store, self.deliverer, self.bus, self.stopping, self.clock)
        self.outbox.start()  # resends what a crash left committed but unsent
        self.stack.push_async_callback(self.outbox.close)
        self.api = AlertsApi(self)
        self._subscribe()
        self.stack.push_async_callback(self._stop_consumers)
        self.spawn(self._ticker(), "ticker")
        self.spawn(self._watch_rules(), "rules-watch")
        self.spawn(watch_peers(self.bus, self.name, *self.partition, self.log), "peers")

    # ------------------------------------------------------------ rules

    def _load(self) -> RuleSet:
        ruleset = load_rules(self.rules_dir, with_defaults=self.settings.alerts.default_rules)
        for error in ruleset.errors:
            self.log.error("rule problem", error=str(error))
        self.log.info(
            "rules loaded",
            rules=len(ruleset.rules),
            owned=len(owned_rules(ruleset.rules, *self.partition)),
            errors=len(ruleset.errors),
        )
        return ruleset

    async def reload(self) -> RuleSet:
        async with self._lock:
            self.ruleset = self._load()
            self.engine.set_rules(self.owned)
            self.deliverer.set_receivers(self.ruleset.receivers)
            await self._flush()
        return self.ruleset

    async def _watch_rules(self) -> None:
        from watchfiles import awatch

        async for _changes in awatch(self.rules_dir, stop_event=self.stopping, debounce=200):
            with contextlib.suppress(Exception):
                await self.reload()

    # ------------------------------------------------------------ inputs

    def _subscribe(self) -> None:
        events = self._on_events
        # Every instance reads every event (each evaluates its own rules over them), through
        # its own durable consumers: alerts-<x> alone, alerts-<x>-p<k> when partitioned.
        tail = suffix(*self.partition)
        subs: list[tuple[str, str, str, type[Any], Callable[[list[Any]], Awaitable[None]]]] = [
            ("VIGIL_METRIC", "metric", "vigil.metric.>", contracts.MetricBatch, self._on_metrics),
            ("VIGIL_PROGRAM", "program", "vigil.program.*.exited", contracts.ProgramExited, events),
            ("VIGIL_WORK", "work", "vigil.work.>", contracts.WorkBatch, events),
            ("VIGIL_LOG", "log", "vigil.log.>", contracts.LogBatch, events),
            ("VIGIL_FILES", "parse", "vigil.error.parse.>", contracts.ParseError, events),
            ("VIGIL_KPI", "kpi", "vigil.kpi.>", contracts.KpiUpdate, events),
            ("VIGIL_AUDIT", "audit", "vigil.audit.>", contracts.AuditEvent, events),
            ("VIGIL_TARGET", "target", "vigil.target.*.status", contracts.TargetStatus, events),
        ]
        for stream, durable, subject, kind, handler in subs:
            # New consumers start at "now": replaying days of old samples would raise stale alerts.
            task = self.bus.consume(
                stream=stream, durable=f"alerts-{durable}{tail}", subjects=subject, kind=kind,
                handler=handler,
                deliver_new=True, batch=512,
                # Samples left unacked by a crash or a broker restart come back in order (not
                # later, older than the series' mark); events are not idempotent: not those.
                rewind=durable == "metric",
            )  # fmt: skip
            self._consumers.append(task)

    async def _stop_consumers(self) -> None:
        if not await stop_tasks(self._consumers):
            self.log.warning("alert consumers did not stop in time")

    async def _on_metrics(self, items: list[tuple[contracts.MetricBatch, Msg]]) -> None:
        async with self._lock:
            for batch, _ in items:
                self.engine.observe_batch(batch.host, batch.ts or self.clock(), batch.samples)
            await self._flush()

    async def _on_events(self, items: list[tuple[Any, Msg]]) -> None:
        async with self._lock:
            for event, _ in items:
                self.feed(event)
            await self._flush()

    def feed(self, event: Any) -> None:
        """Turn one decoded event into engine observations."""
        engine = self.engine
        as_dict = msgspec.structs.asdict
        if isinstance(event, contracts.ProgramExited):
            engine.observe_event("program_exited", as_dict(event), event.ts or None)
        elif isinstance(event, contracts.WorkBatch):
            for work in event.events:
                fields = {**work.details, **as_dict(work), "source": event.source}
                engine.observe_event("work", fields)
        elif isinstance(event, contracts.LogBatch):
            for record in event.records:
                engine.observe_event(
                    "log", {**record.fields, "source": event.source, "line": record.line}
                )
        elif isinstance(event, contracts.ParseError):
            engine.observe_event("parse_error", as_dict(event), event.ts or None)
        elif isinstance(event, contracts.AuditEvent):
            engine.observe_event("audit", as_dict(event), event.ts or None)
        elif isinstance(event, contracts.KpiUpdate):
            ts = event.ts or self.clock()
            for key, value in event.values.items():
                engine.observe_sample(f"kpi.{key}", {"process": event.process}, float(value), ts)
        elif isinstance(event, contracts.TargetStatus):
            # target.up / http.response_ms arrive as metrics from the checks themselves.
            engine.observe_event("target", as_dict(event), event.ts or None)

    # ------------------------------------------------------------ outputs

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alerts.tick_s)
            try:
                async with self._lock:
                    self.engine.tick()
                    await self._flush()
            except Exception as exc:  # one bad tick must not end evaluation
                self.log.exception("tick failed", error=repr(exc)[:300])

    async def _flush(self) -> None:
        """Commit whatever the engine decided (one transaction), then publish and deliver it."""
        await self.outbox.flush(self.engine)

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        return self.api.endpoints()

    def health_detail(self) -> dict[str, Any]:
        return {
            **({"partition": self.partition[0]} if self.partition[1] > 1 else {}),
            "rules": len(self.engine.rules),
            "rule_errors": len(self.ruleset.errors),
            "active": len(self.engine.alerts),
            "samples": self.engine.samples_seen,
            "samples_dropped": self.engine.samples_dropped,
            "samples_late": self.engine.samples_late,
            "delivered": self.deliverer.delivered,
            "delivery_failures": self.deliverer.failed,
        }
