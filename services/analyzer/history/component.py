"""The metric history inside the analyzer: consumes ``vigil.metric.>``, serves queries over NATS.

Request/reply methods, each on ``vigil.api.analyzer.<method>``; payloads are JSON
objects, replies JSON (errors: micro error headers, 400 for a bad payload). A
*selector* (services/analyzer/history/rpc.py ``Selector``) has ``series_id`` or
``ids``, or ``name``/``host``/``group``/``labels`` (all given must match), plus
``start``/``end`` (Unix s; default end = now, start = end − ``range_s``, 3600),
``max_points`` (default 1000), ``tier`` ("" = automatic, raw | 1m | 1h), ``limit``.

- ``metric_series`` selector → ``{"series": [{id, host, group, name, labels, first_ts,
  last_ts, last_value}]}``
- ``metric_hosts`` {} → ``{"hosts": [{host, groups: {group: series count}}]}``
- ``metric_query`` selector → ``{"tier", "step", "start", "end", "series": [{…series,
  "points": {"ts", "count", "avg", "min", "max", "last", "p50", "p95", "p99"}}]}``
  (columns of equal length; ts is each bucket's start)
- ``metric_window`` selector + ``window_s``, ``reducer`` (avg|min|max|last|sum|count|
  p50|p95|p99|rate) → ``{"series": [{…series, "value", "count"}]}`` over the last window
- ``metric_summary`` selector → series with ``summary`` {avg, min, max, current, count}
- ``metric_trend`` selector → series with ``trend`` {direction up|down|stable,
  strength weak|moderate|strong, change_pct, slope_per_hour}
- ``metric_pattern`` selector + ``days`` (28), ``tz`` → series with ``pattern``
  {grid[7][24] (Monday first), hour_avg, weekday_avg, peak, low}
- ``metric_anomalies`` selector + ``history_days`` (28), ``threshold`` (4) → series with
  ``anomalies`` [{ts, value, expected, score, season}] and ``baseline``
- ``metric_forecast`` selector + ``threshold`` (100), ``lookback_s`` (7 d), ``horizon_s``
  → series with ``forecast`` {eta_ts, seconds_left, slope_per_hour, r2, line}
- ``metric_export`` selector + ``format`` csv|json → {content_type, filename, body}
- ``metric_register_plugin`` {plugin_id, plugin_name, description, by} → {plugin_id, created}
- ``metric_plugins`` {} → {"plugins": [{plugin_id, name, registered_at, last_push_at, samples}]}
- ``metric_stats`` {} → the writer's counters (accepted, duplicates, rejected by reason)

Partitioned (``[analyzer] partitions`` = N > 1), instance k stores only the hosts that
``services.core.partition.host_owner`` gives it (other hosts' batches are acked without
decoding), in ``analyzer-history-p<k>.sqlite`` through the durable ``analyzer-history-p<k>``,
and its series ids are global: local id × N + k, so an id names its owner (id % N) and
never collides with another partition's (ids.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from nats.aio.msg import Msg

from services.analyzer.history.db import open_engine
from services.analyzer.history.ids import SeriesIds
from services.analyzer.history.rpc import (
    AnomalyQuery,
    ExportQuery,
    ForecastQuery,
    PatternQuery,
    PluginRegistration,
    Selector,
    WindowQuery,
)
from services.analyzer.history.writer import HistoryWriter
from services.core.bus import Bus
from services.core.config import Settings
from services.core.contracts import MetricBatch
from services.core.logs import get_logger
from services.core.partition import host_owner, subject_host, suffix
from services.core.tasks import stop_tasks

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.analyzer.history.reader import HistoryReader

log = get_logger("analyzer")
S = TypeVar("S", bound=Selector)
Handler = Callable[[bytes], Awaitable[Any]]


class HistoryComponent:
    """Start with ``await start()``; ``endpoints()`` go into the service's micro service."""

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.history = settings.analyzer.history
        self.bus = bus
        cfg = settings.analyzer
        self.partition, self.partitions = cfg.partition, cfg.partitions
        self.tail = suffix(self.partition, self.partitions)
        self.path = settings.data_path / f"analyzer-history{self.tail}.sqlite"
        self.ids = SeriesIds(self.partition, self.partitions)
        # One thread writes; everything that writes goes through it.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="history-writer")
        self.writer: HistoryWriter | None = None
        self.engine: Engine | None = None
        self._reader: HistoryReader | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0

    async def _in_writer(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def start(self) -> None:
        engine = await self._in_writer(open_engine, self.path)
        self.writer = await self._in_writer(HistoryWriter, engine, self.history)
        self.engine = engine
        if not self.history.enabled:
            log.info("metric history off ([analyzer.history] enabled = false)")
            return
        self.bus.consume(
            stream="VIGIL_METRIC",
            durable=f"analyzer-history{self.tail}",
            subjects="vigil.metric.>",
            kind=MetricBatch,
            handler=self._on_batches,
            batch=512,
            accept=self._owns if self.partitions > 1 else None,
            # A batch a killed process (or a broker restart) left unacked comes back now and in
            # order, not after ack_wait behind newer samples, which would drop it as old.
            rewind=True,
        )
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="history-retention"))
        log.info("metric history ready", path=str(self.path), series=len(self.writer.series))

    def _owns(self, subject: str) -> bool:
        """Whether this partition stores the batch on ``subject`` (its host token decides)."""
        return host_owner(subject_host(subject), self.partitions) == self.partition

    async def stop(self) -> None:
        await stop_tasks(self._tasks)
        self.executor.shutdown(wait=True)
        if self.engine is not None:
            self.engine.dispose()

    async def _on_batches(self, pairs: list[tuple[MetricBatch, Msg]]) -> None:
        assert self.writer is not None
        result = await self._in_writer(self.writer.write, [batch for batch, _ in pairs])
        self.batches += len(pairs)
        if result.rejected:
            log.warning(
                "metric samples rejected", count=result.rejected, first=result.reasons[0][:200]
            )

    async def _retention_loop(self) -> None:
        assert self.writer is not None
        while True:
            try:
                deleted = await self._in_writer(self.writer.retain)
                if any(deleted.values()):
                    log.info("history retention", **deleted)
            except Exception as exc:
                log.warning("history retention failed", error=repr(exc)[:200])
            await asyncio.sleep(self.history.retention_interval_s)

    # ------------------------------------------------------------ RPC

    @property
    def reader(self) -> HistoryReader:
        """The query side, built on the first query: it loads numpy (~11 MB resident),
        which an analyzer nobody asks for charts never needs."""
        if self._reader is None:
            from services.analyzer.history.reader import HistoryReader

            assert self.engine is not None, "history not started"
            self._reader = HistoryReader(self.engine, self.history)
        return self._reader

    def _read(self, kind: type[S], method: str) -> Handler:
        decoder = msgspec.json.Decoder(kind)

        async def handle(data: bytes) -> Any:
            query = decoder.decode(data or b"{}")
            self.ids.to_local(query)  # other partitions' ids match nothing here
            fn = getattr(self.reader, method)
            return self.ids.to_global(await asyncio.to_thread(fn, query))

        return handle

    def endpoints(self) -> dict[str, Handler]:
        return {
            "metric_series": self._read(Selector, "series"),
            "metric_hosts": self._read(Selector, "hosts"),
            "metric_query": self._read(Selector, "query"),
            "metric_window": self._read(WindowQuery, "window"),
            "metric_summary": self._read(Selector, "summary"),
            "metric_trend": self._read(Selector, "trend"),
            "metric_pattern": self._read(PatternQuery, "pattern"),
            "metric_anomalies": self._read(AnomalyQuery, "anomalies"),
            "metric_forecast": self._read(ForecastQuery, "forecast"),
            "metric_export": self._read(ExportQuery, "export"),
            "metric_register_plugin": self._register_plugin,
            "metric_plugins": self._plugins,
            "metric_stats": self._stats,
        }

    async def _register_plugin(self, data: bytes) -> Any:
        assert self.writer is not None
        reg = msgspec.json.decode(data or b"{}", type=PluginRegistration)
        return await self._in_writer(
            self.writer.register_plugin,
            reg.plugin_id,
            reg.plugin_name or reg.plugin_id,
            reg.description,
            reg.by,
        )

    async def _plugins(self, _data: bytes) -> Any:
        return await asyncio.to_thread(self.reader.plugins)

    async def _stats(self, _data: bytes) -> Any:
        return self.stats()

    def stats(self) -> dict[str, Any]:
        writer = self.writer
        if writer is None:
            return {}
        return {
            "series": len(writer.series),
            "batches": self.batches,
            "samples_accepted": writer.totals["accepted"],
            "samples_duplicate": writer.totals["duplicates"],
            "samples_rejected": writer.totals["rejected"],
            "rejected_by_reason": dict(writer.rejected_by_reason.most_common(10)),
            "at": time.time(),
        }
