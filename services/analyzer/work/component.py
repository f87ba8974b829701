"""The work-analytics component of the analyzer: durable consumer, KpiUpdate coalescing, RPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.msg import Msg
from sqlalchemy import Connection

from services.analyzer.work import queries, views
from services.analyzer.work.filters import FilterError, WorkFilter, parse_day, parse_filter
from services.analyzer.work.store import open_engine
from services.analyzer.work.writer import Applied, StaleUnit, WorkWriter
from services.core import contracts
from services.core.bus import Bus
from services.core.config.analyzer import AnalyzerSettings
from services.core.logs import get_logger
from services.core.tasks import stop_tasks

DB_NAME = "analyzer-work.sqlite"
DURABLE = "analyzer-work"
ACK_WAIT_S = 8.0
STALE_RETRIES = 3  # a unit refused after an earlier one failed is prepared again this often
KPI_KEYS = ("total_trays", "total_pcs", "avg_tray_time", "total_errors", "avg_fpy", "avg_latency")

log = get_logger("analyzer")


def _payload(data: bytes) -> dict[str, Any]:
    if not data.strip():
        return {}
    decoded = msgspec.json.decode(data)
    if not isinstance(decoded, dict):
        raise ValueError("request payload must be a JSON object")
    return decoded


class WorkAnalytics:
    """Owns analyzer-work.sqlite: one writer (the consumer), readers per query."""

    def __init__(self, data_path: Path, settings: AnalyzerSettings) -> None:
        self.settings = settings
        self.engine = open_engine(data_path / DB_NAME)
        self.writer = WorkWriter(self.engine, settings)
        self.bus: Bus | None = None
        self._dirty: dict[str, int] = defaultdict(int)
        self._wake = asyncio.Event()
        self._last_emit: dict[str, float] = defaultdict(float)
        self._last_values: dict[str, dict[str, float]] = {}
        self._consumer: asyncio.Task[None] | None = None
        # The one SQL thread: units are written there, in the order they were prepared.
        self._sql = ThreadPoolExecutor(1, thread_name_prefix="work-sql")
        self._inflight: list[asyncio.Future[Any]] = []  # prepares and commits not yet done
        self.applied_batches = 0
        self.applied_sessions = 0
        # Catching up: batches still in the stream after the newest fetched one, plus those
        # fetched and not yet stored; (monotonic time, applied batches) to tell the rate.
        self._stream_pending = 0
        self._unstored = 0
        self._progress: deque[tuple[float, int]] = deque(maxlen=64)
        self._prepare_lock = asyncio.Lock()
        self._closing = False

    # ------------------------------------------------------------ lifecycle

    async def start(self, bus: Bus) -> None:
        """Start the durable consumer; run ``publish_loop()`` beside it for KpiUpdates."""
        self.bus = bus
        self._consumer = bus.consume(
            stream="VIGIL_WORK",
            durable=DURABLE,
            subjects="vigil.work.>",
            kind=contracts.WorkBatch,
            handler=self._handle,
            # One fetch is one transaction: with a backlog, 512 files per commit halve the
            # commits and round trips of a backfill; live, a fetch returns what is there.
            batch=512,
            # A batch is prepared while the one before it is written (see _handle).
            pipeline=2,
            # Short: a batch left unacked by a stopped analyzer comes back soon, and a
            # redelivery that overlaps a slow handler is harmless (rows are deduplicated).
            ack_wait_s=ACK_WAIT_S,
        )

    async def close(self) -> None:
        """Stop consuming (an unacked batch is redelivered and deduplicated), close the file."""
        self._closing = True  # no batch is prepared from here on
        # A cancel can land inside the client's fetch and be absorbed there: repeated.
        stopped = self._consumer is None or await stop_tasks([self._consumer], tries=20)
        if not stopped:
            log.error("work consumer did not stop; closing anyway")
        # Threads cannot be interrupted: let them finish before the file closes.
        for future in self._inflight:
            with contextlib.suppress(BaseException):
                await future
        # A unit prepared but never written (stopped in between) left memory ahead.
        self.writer.mark_stale()
        await asyncio.to_thread(self._sql.shutdown)
        self.engine.dispose()

    # ------------------------------------------------------------ consuming

    async def _handle(self, items: list[tuple[contracts.WorkBatch, Msg]]) -> Awaitable[None]:
        """Prepare the unit of these batches; its commit (and the ack) finishes later.

        Preparing is Python work and holds the GIL; writing is mostly SQLite, which lets go
        of it: a backfill prepares one unit while the SQL thread writes the one before.
        """
        if self._closing:
            raise RuntimeError("the work analytics are closing")  # naked: redelivered
        batches = [batch for batch, _ in items]
        newest = items[-1][1]
        with contextlib.suppress(Exception):  # a message without JetStream metadata: unknown
            self._stream_pending = int(newest.metadata.num_pending or 0)
        self._unstored += len(items)
        try:
            commit, applied = await self._prepare(batches)
        except BaseException:
            self._unstored -= len(items)  # naked: back in the stream
            raise

        async def committed() -> None:
            nonlocal commit, applied
            try:
                for _ in range(STALE_RETRIES):
                    try:
                        await commit
                        break
                    except StaleUnit:
                        # Refused because an earlier unit failed: prepared again on reloaded
                        # memory, here, not redelivered (a redelivery counts toward the
                        # dead letter, and these batches never reached SQLite).
                        commit, applied = await self._prepare(batches)
                else:
                    raise StaleUnit("refused again and again: redelivered")
            finally:
                self._unstored -= len(items)
            self.note_applied(applied, len(batches))
            self._progress.append((time.monotonic(), self.applied_batches))

        # A task, not a bare coroutine: it runs even if the bus stops before awaiting it.
        return asyncio.ensure_future(committed())

    async def _prepare(self, batches: list[contracts.WorkBatch]) -> tuple[Awaitable[None], Applied]:
        """Prepare a unit (reloading memory first if a unit failed) and queue its commit.

        One at a time: preparing moves memory on, and commits run in the order queued.
        """
        loop = asyncio.get_running_loop()
        async with self._prepare_lock:
            for _ in range(STALE_RETRIES):
                if self.writer.stale:
                    # Behind every unit already queued: it reads what they left committed.
                    await self._track(loop.run_in_executor(self._sql, self.writer.reload))
                try:
                    unit, applied = await self._track(
                        asyncio.to_thread(self.writer.prepare, batches)
                    )
                except StaleUnit:
                    continue  # a commit failed between the check and the prepare
                commit = self._track(loop.run_in_executor(self._sql, self.writer.commit, unit))
                return commit, applied
        raise StaleUnit("memory kept going stale: redelivered")

    @property
    def backlog(self) -> int:
        """Batches not yet stored: 0 when the analyzer has caught up with the stream."""
        return self._stream_pending + max(self._unstored, 0)

    async def refresh_backlog(self) -> int:
        """The backlog with the stream's pending count asked of the server just now.

        The count a fetched message carries is as old as the fetch: while a write waits,
        the stream keeps growing behind it.
        """
        if self.bus is not None:
            with contextlib.suppress(Exception):
                info = await self.bus.js.consumer_info("VIGIL_WORK", DURABLE, timeout=1.0)
                self._stream_pending = int(info.num_pending or 0)
        return self.backlog

    async def status(self) -> dict[str, Any]:
        """Catching-up progress: backlog, stored totals, recent rate and time left."""
        await self.refresh_backlog()
        rate = 0.0
        if len(self._progress) >= 2:
            (t0, n0), (t1, n1) = self._progress[0], self._progress[-1]
            if t1 > t0 and time.monotonic() - t1 < 10:
                rate = (n1 - n0) / (t1 - t0)
        backlog = self.backlog
        return {
            "backlog": backlog,
            "batches": self.applied_batches,
            "sessions": self.applied_sessions,
            "rate_per_s": round(rate, 1),
            "eta_s": round(backlog / rate, 1) if backlog and rate else None,
        }

    def _track(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Shielded: a stop while a thread works waits for it (see close())."""
        future = asyncio.ensure_future(work)
        self._inflight = [f for f in self._inflight if not f.done()]
        self._inflight.append(future)
        return asyncio.shield(future)

    def note_applied(self, applied: Applied, batches: int) -> None:
        """Count what changed and wake the KpiUpdate publisher for those processes."""
        self.applied_batches += batches
        self.applied_sessions += sum(applied.sessions.values())
        for process in set(applied.sessions) | set(applied.events):
            self._dirty[process] += applied.sessions.get(process, 0)
        if self._dirty:
            self._wake.set()

    # ------------------------------------------------------------ KpiUpdate

    async def publish_loop(self) -> None:
        """Leading edge at once, then at most one KpiUpdate per process per interval."""
        loop = asyncio.get_running_loop()
        interval = self.settings.kpi_update_interval_s
        while True:
            await self._wake.wait()
            now = loop.time()
            due = [p for p in self._dirty if now - self._last_emit[p] >= interval]
            for process in due:
                added = self._dirty.pop(process)
                self._last_emit[process] = now
                with contextlib.suppress(Exception):
                    await self._emit(process, added)
            if not self._dirty:
                self._wake.clear()
                continue
            wait = min(self._last_emit[p] + interval for p in self._dirty) - loop.time()
            await asyncio.sleep(max(wait, 0.0))

    async def _emit(self, process: str, added: int) -> None:
        if self.bus is None:
            return
        today = date.today().isoformat()
        f = WorkFilter(process=process, date_from=today, date_to=today)
        values = await asyncio.to_thread(self._read, lambda c: self._today_values(c, f, today))
        before = self._last_values.get(process, {})
        changed = [k for k, v in values.items() if before.get(k) != v]
        self._last_values[process] = values
        event = contracts.KpiUpdate(
            process=process, changed=changed, values=values, sessions_added=added,
            ts=time.time(), backlog=self.backlog,  # as of the last fetch: no extra request
        )  # fmt: skip
        await self.bus.emit(contracts.kpi(process), event)

    def _today_values(self, conn: Connection, f: WorkFilter, today: str) -> dict[str, float]:
        kpis = queries.kpi_summary(conn, f, self.settings)
        values = {k: float(kpis[k]) for k in KPI_KEYS}
        tiles = views.work_today(conn, self.settings, today)["processes"].get(f.process, {})
        values["events"] = float(tiles.get("events", 0))
        return values

    # ------------------------------------------------------------ queries

    def _read(self, fn: Callable[[Connection], Any]) -> Any:
        with self.engine.connect() as conn:
            return fn(conn)

    async def _query(self, fn: Callable[[Connection], Any]) -> Any:
        return await asyncio.to_thread(self._read, fn)

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        """RPC methods on ``vigil.api.analyzer.<method>``; bad parameters answer 400."""
        s = self.settings

        def today_of(p: dict[str, Any]) -> str:
            return parse_day("today", p.get("today")) or date.today().isoformat()

        async def work_today(data: bytes) -> Any:
            p = _payload(data)
            return await self._query(lambda c: views.work_today(c, s, today_of(p)))

        async def work_kpis(data: bytes) -> Any:
            f = parse_filter(_payload(data))
            return await self._query(
                lambda c: {"filter": f.to_params(), "kpis": queries.kpi_summary(c, f, s),
                           "problems": views.problems(c, f.process, limit=0)}
            )  # fmt: skip

        async def work_workers(data: bytes) -> Any:
            f = parse_filter(_payload(data))
            weights = s.score_weights.get("transfer" if f.process == "all" else f.process, [])
            return await self._query(
                lambda c: {"filter": f.to_params(), "workers": queries.worker_table(c, f, s),
                           "weights": [msgspec.to_builtins(w) for w in weights]}
            )  # fmt: skip

        async def work_view_today(data: bytes) -> Any:
            p = _payload(data)
            f, today = parse_filter(p), today_of(p)
            return await self._query(lambda c: views.today_view(c, f, s, today))

        async def work_daily(data: bytes) -> Any:
            f = parse_filter(_payload(data))
            return await self._query(lambda c: views.daily(c, f, s))

        async def work_items(data: bytes) -> Any:
            f = parse_filter(_payload(data))
            return await self._query(lambda c: views.items_by_day(c, f, s))

        async def work_errors(data: bytes) -> Any:
            p = _payload(data)
            f = parse_filter(p)
            limit, offset = _int(p, "limit", 200, 1, 5000), _int(p, "offset", 0, 0, 10**9)
            return await self._query(lambda c: views.error_log(c, f, s, limit, offset))

        async def work_trace(data: bytes) -> Any:
            p = _payload(data)
            kind, value = str(p.get("kind", "")), str(p.get("value", ""))
            if not value.strip():
                raise FilterError("value", "give a work order, item code or barcode")
            return await self._query(lambda c: views.trace(c, kind, value))

        async def work_problems(data: bytes) -> Any:
            f = parse_filter(_payload(data))
            return await self._query(lambda c: views.problems(c, f.process))

        async def work_status(_data: bytes) -> Any:
            return await self.status()

        async def work_export_page(data: bytes) -> Any:
            p = _payload(data)
            f = parse_filter(p)
            what = str(p.get("what", "sessions"))
            after, limit = _int(p, "after", 0, 0, 2**62), _int(p, "limit", 5000, 1, 20000)
            if what not in ("sessions", "errors"):
                raise FilterError("what", "expected sessions or errors")
            return await self._query(lambda c: views.export_page(c, f, s, what, after, limit))

        return {
            "work_today": work_today,
            "work_kpis": work_kpis,
            "work_workers": work_workers,
            "work_view_today": work_view_today,
            "work_daily": work_daily,
            "work_items": work_items,
            "work_errors": work_errors,
            "work_trace": work_trace,
            "work_problems": work_problems,
            "work_export_page": work_export_page,
            "work_status": work_status,
        }

    def health_detail(self) -> dict[str, Any]:
        """In the analyzer's health (``vigil status``): stored so far, and still to store."""
        return {"work_batches": self.applied_batches, "work_sessions": self.applied_sessions,
                "work_backlog": self.backlog}  # fmt: skip


def _int(p: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = p.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise FilterError(name, f"expected an integer, got {str(raw)[:40]!r}") from None
    if not low <= value <= high:
        raise FilterError(name, f"must be between {low} and {high}")
    return value
