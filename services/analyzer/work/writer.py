"""The one writer of analyzer-work.sqlite: applies WorkBatches idempotently and incrementally.

Work per batch is proportional to its rows: sessions, scans and errors are inserted,
and the maintained aggregates (daily, item, hourly, events) get additive upserts.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from operator import add
from typing import Any

from sqlalchemy import Engine, text

from services.analyzer.work.schema import (
    DAILY_KEYS,
    DAILY_SUMS,
    ERROR_COLUMNS,
    EVENT_COLUMNS,
    HOUR_COLUMNS,
    ITEM_COLUMNS,
    PROBLEM_COLUMNS,
    SCAN_COLUMNS,
    SESSION_COLUMNS,
)
from services.analyzer.work.sessions import (
    PROCESSES,
    SCAN_OK,
    TRAY_COMPLETE,
    build_session,
    col,
    is_error_event,
)
from services.analyzer.work.store import Rows, Unit, flat, insert, write_rows
from services.analyzer.work.timeline import Slot, Timeline
from services.analyzer.work.values import as_float, as_text, iso, parse_ts
from services.core.config.analyzer import AnalyzerSettings
from services.core.contracts import WorkBatch, WorkEvent

# Where a session row (a list in SESSION_COLUMNS order) keeps each field.
S_DATE = col["date"]
S_DEFECTIVE = col["defective"]
S_ELIGIBLE = col["eligible"]
S_END_TS = col["end_ts"]
S_FILE_ID = col["file_id"]
S_HAD_ERROR = col["had_error"]
S_HOUR = col["hour"]
S_ID = col["id"]
S_IDLE_TIME = col["idle_time"]
S_ITEM_CODE = col["item_code"]
S_ITEM_NAME = col["item_name"]
S_LATENCY = col["latency"]
S_LINE = col["line"]
S_PATH = col["path"]
S_PCS = col["pcs"]
S_PROCESS = col["process"]
S_PROCESS_ERRORS = col["process_errors"]
S_RAW_WORKER = col["raw_worker"]
S_START_TS = col["start_ts"]
S_WORK_TIME = col["work_time"]
S_WORKER = col["worker"]
NO_NAME = 1e18  # name_ts of an item row that has no name yet
_EPOCH = datetime(1970, 1, 1)  # values.seconds, inlined in the per-row loop
_OTHER, _SCAN, _TRAY, _ERROR = range(4)  # what a row becomes, by its event name
_CACHE_MAX = 10_000  # distinct names (events, workers, days) remembered before starting over


@dataclass
class Applied:
    """What one apply() changed, per process."""

    sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: int = 0
    problems: int = 0


class StaleUnit(Exception):
    """A unit prepared before an earlier one failed: refused, redelivered, prepared again."""


class _Pending:
    """Rows and aggregate deltas of one transaction."""

    def __init__(self) -> None:
        self.sessions: dict[int, list[Any]] = {}  # rows in SESSION_COLUMNS order
        self.scans: list[Any] = []  # SCAN_COLUMNS, row after row in one flat list
        self.errors: list[tuple[Any, ...]] = []  # ERROR_COLUMNS
        self.problems: list[tuple[Any, ...]] = []  # PROBLEM_COLUMNS
        self.daily: dict[tuple[str, str, str], list[float]] = defaultdict(
            lambda: [0.0] * len(DAILY_SUMS)
        )
        self.events: dict[tuple[str, str], int] = defaultdict(int)
        self.latency_updates: dict[int, float] = {}


class WorkWriter:
    """Owns the write connection, the applied-line index and the latency timelines."""

    def __init__(self, engine: Engine, settings: AnalyzerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.cap = settings.latency_cap_s
        self.covered: dict[str, list[list[int]]] = defaultdict(list)
        self.timelines: dict[tuple[str, str], Timeline] = {}
        self.next_id = 1
        self.gen = 0  # bumped when a unit fails: units prepared before that are refused
        self.stale = False  # memory is ahead of the database: reload() before preparing
        self._state = threading.Lock()  # gen and stale, shared by the prepare and SQL threads
        self._names: dict[str, int] = {}  # event name → _SCAN, _TRAY, _ERROR or _OTHER
        self._workers: dict[str, str] = {}  # worker cell → corrected worker name
        self._days: dict[int, str] = {}  # date ordinal → ISO date
        self._load()

    def _load(self) -> None:
        """(Re)load the in-memory state from the database: at start and after a failed write."""
        self.covered.clear()
        self.timelines.clear()
        with self.engine.connect() as conn:
            for file_id, lo, hi in conn.execute(
                text("SELECT file_id, lo, hi FROM work_file_lines")
            ):
                self.covered[file_id].append([lo, hi])
            self.next_id = 1 + (
                conn.execute(text("SELECT MAX(id) FROM work_session")).scalar() or 0
            )
        for spans in self.covered.values():
            spans.sort()

    # ------------------------------------------------------------ dedupe by (file, line)

    def _cover(self, file_id: str, lo: int, hi: int) -> None:
        spans = self.covered[file_id]
        spans.append([lo, hi])
        spans.sort()
        merged: list[list[int]] = []
        for span in spans:
            if merged and span[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], span[1])
            else:
                merged.append(span)
        self.covered[file_id] = merged

    # ------------------------------------------------------------ apply

    def worker_name(self, raw: str) -> str:
        name = raw.strip()
        return self.settings.worker_aliases.get(name, name)

    def apply(self, batches: list[WorkBatch]) -> Applied:
        """Apply batches in one transaction; rows already applied are skipped."""
        if self.stale:
            self.reload()
        unit, applied = self.prepare(batches)
        try:
            self.commit(unit)
        except BaseException:
            self.reload()
            raise
        return applied

    # ------------------------------------------------------------ prepare, then commit
    #
    # The analyzer prepares a unit (Python: sessions, latencies, aggregate deltas) while the
    # previous one is written on the SQL thread. Memory runs ahead of the database by the
    # units in flight; when one fails, every unit prepared after it is refused (its
    # generation is old) and memory is reloaded from the database once the SQL thread has
    # finished with them (reload() runs there). The analyzer prepares a refused unit's
    # batches again itself; only the failed unit's batches go back to the stream.

    def prepare(self, batches: list[WorkBatch]) -> tuple[Unit, Applied]:
        """The statements of one transaction for ``batches``; memory state moves on."""
        with self._state:
            gen = self.gen  # the generation whose memory this unit builds on
            if self.stale:
                raise StaleUnit("memory is behind a failed unit: reload() first")
        applied = Applied()
        pending = _Pending()
        touched: set[str] = set()
        try:
            with self.engine.connect() as conn:  # timelines seen for the first time load here
                for batch in batches:
                    self._apply_batch(conn, batch, pending, applied)
                    touched.add(batch.file_id)
            unit = self._unit(gen, pending, touched)
        except BaseException:
            # Memory holds part of this unit. Units prepared before it are sound and still
            # commit; reload() (queued behind them on the SQL thread) starts over from there.
            self.mark_stale()
            raise
        applied.problems = len(pending.problems)
        return unit, applied

    def commit(self, unit: Unit) -> None:
        """Write a prepared unit in one transaction (on the one SQL thread, in order)."""
        with self._state:
            if unit.gen != self.gen:
                raise StaleUnit("an earlier unit failed: prepare this one again after reload()")
        try:
            with self.engine.begin() as conn:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                for rows in unit.statements:
                    write_rows(cursor.execute, rows)
                for sql, many in unit.singles:
                    cursor.executemany(sql, many)
        except BaseException:
            self._invalidate()
            raise

    def reload(self) -> None:
        """Memory state again from the database (after a failed unit; see prepare())."""
        self._load()
        with self._state:
            self.stale = False

    def mark_stale(self) -> None:
        """Memory may be ahead of what will be committed: the next prepare needs reload()."""
        with self._state:
            self.stale = True

    def _invalidate(self) -> None:
        with self._state:
            self.gen += 1
            self.stale = True

    def _apply_batch(self, conn: Any, batch: WorkBatch, p: _Pending, applied: Applied) -> None:
        events = batch.events
        file_id = batch.file_id
        spans = self.covered.get(file_id)
        if spans:
            fresh = [e for e in events if not _inside(spans, e.line)]
            applied.duplicates += len(events) - len(fresh)
        else:
            fresh = events  # a file seen for the first time: nothing to skip
        if not fresh:
            return
        # One read of a file is contiguous: lines missing inside it were not events.
        lines = [e.line for e in events]
        self._cover(file_id, min(lines), max(lines))
        process = batch.process
        if process not in PROCESSES:
            p.problems.append(
                _problem(process, batch.worker, "process", f"unknown process {process!r}",
                         batch.path, file_id, fresh[0].line)
            )  # fmt: skip
            return
        # Locals and per-name caches: this loop runs once per row of a backfill.
        names, workers, days, scans = self._names, self._workers, self._days, p.scans
        path, batch_worker = batch.path, batch.worker
        per_day: dict[str, int] = {}
        for ev in fresh:
            raw_worker = ev.worker or batch_worker
            worker = workers.get(raw_worker)
            if worker is None:
                worker = self._worker(raw_worker)
            moment = parse_ts(ev.ts)
            if moment is None:
                p.problems.append(
                    _problem(process, worker, "timestamp", f"bad timestamp {ev.ts[:40]!r}",
                             path, file_id, ev.line)
                )  # fmt: skip
                continue
            ordinal = moment.toordinal()
            day = days.get(ordinal)
            if day is None:
                if len(days) > _CACHE_MAX:
                    days.clear()
                day = days[ordinal] = moment.date().isoformat()
            per_day[day] = per_day.get(day, 0) + 1
            kind = names.get(ev.event)
            if kind is None:
                kind = self._kind(ev.event)
            if kind == _SCAN:
                details = ev.details
                barcode = details.get("barcode")
                interval = details.get("interval_sec")
                scans += (
                    process, worker, (moment - _EPOCH).total_seconds(),
                    barcode.strip() if type(barcode) is str else as_text(barcode),
                    as_float(interval)[0],
                )  # fmt: skip
            elif kind == _TRAY:
                self._tray(conn, batch, ev, process, worker, raw_worker, moment, p, applied)
            elif kind == _ERROR:
                name = ev.event.strip()
                p.errors.append(
                    (process, worker, iso(moment), day, name,
                     json.dumps(ev.details, ensure_ascii=False, default=str)[:4000],
                     path, file_id, ev.line)
                )  # fmt: skip
        for day, n in per_day.items():
            p.events[(process, day)] += n
            applied.events[process] += n

    def _tray(
        self, conn: Any, batch: WorkBatch, ev: WorkEvent, process: str, worker: str,
        raw_worker: str, moment: datetime, p: _Pending, applied: Applied,
    ) -> None:  # fmt: skip
        built = build_session(
            process=process, worker=worker, end=moment, details=ev.details,
            pcs_per_tray=self.settings.pcs_per_tray,
        )  # fmt: skip
        if isinstance(built, str):
            p.problems.append(
                _problem(process, worker, "start_time", built, batch.path,
                         batch.file_id, ev.line, iso(moment))
            )  # fmt: skip
            return
        if built.bad_fields:
            p.problems.append(
                _problem(process, worker, "number",
                         f"unreadable number in {', '.join(built.bad_fields)} (0 used)",
                         batch.path, batch.file_id, ev.line, iso(moment))
            )  # fmt: skip
        row = built.row
        row[S_RAW_WORKER] = raw_worker
        row[S_FILE_ID] = batch.file_id
        row[S_PATH] = batch.path
        row[S_LINE] = ev.line
        self._add_session(conn, row, p)
        applied.sessions[process] += 1

    def _worker(self, raw: str) -> str:
        if len(self._workers) > _CACHE_MAX:
            self._workers.clear()
        name = self._workers[raw] = self.worker_name(raw)
        return name

    def _kind(self, event: str) -> int:
        """What a row with this event name becomes: tray, scan, error-log entry or nothing."""
        if len(self._names) > _CACHE_MAX:
            self._names.clear()
        name = event.strip()
        upper = name.upper()
        kind = (
            _TRAY if upper == TRAY_COMPLETE
            else _SCAN if upper == SCAN_OK
            else _ERROR if is_error_event(name)
            else _OTHER
        )  # fmt: skip
        self._names[event] = kind
        return kind

    def _timeline(self, conn: Any, process: str, worker: str) -> Timeline:
        key = (process, worker)
        found = self.timelines.get(key)
        if found is None:
            found = self.timelines[key] = Timeline()
            rows = conn.execute(
                text(
                    "SELECT start_ts, end_ts, path, line, id, latency, date FROM work_session"
                    " WHERE process = :p AND worker = :w"
                    " ORDER BY start_ts, end_ts, path, line"
                ),
                {"p": process, "w": worker},
            )
            for start_ts, end_ts, path, line, sid, latency, day in rows:
                found.keys.append((start_ts, end_ts, path, line))
                found.slots.append(Slot(sid, end_ts, latency, day))
        return found

    def _add_session(self, conn: Any, row: list[Any], p: _Pending) -> None:
        timeline = self._timeline(conn, row[S_PROCESS], row[S_WORKER])
        row[S_ID] = self.next_id
        self.next_id += 1
        slot = Slot(row[S_ID], row[S_END_TS], 0.0, row[S_DATE])
        changed = timeline.insert((row[S_START_TS], row[S_END_TS], row[S_PATH], row[S_LINE]), slot)
        row[S_LATENCY] = slot.latency
        p.sessions[row[S_ID]] = row
        if changed is None:
            return
        successor, old = changed
        pending_row = p.sessions.get(successor.session_id)
        if pending_row is not None:
            pending_row[S_LATENCY] = successor.latency
            return
        # A stored session's latency changed: move its contribution in the daily sums.
        p.latency_updates[successor.session_id] = successor.latency
        sums = p.daily[(row[S_PROCESS], row[S_WORKER], successor.date)]
        lat_n, lat_sum = DAILY_SUMS.index("lat_n"), DAILY_SUMS.index("lat_sum")
        if old <= self.cap:
            sums[lat_n] -= 1
            sums[lat_sum] -= old
        if successor.latency <= self.cap:
            sums[lat_n] += 1
            sums[lat_sum] += successor.latency

    def _unit(self, gen: int, p: _Pending, touched: set[str]) -> Unit:
        """The statements of one transaction: rows, then additive aggregate upserts."""
        items: dict[tuple[str, str, str, str], list[Any]] = {}
        hours: dict[tuple[str, str, int, str], list[int]] = {}
        daily = p.daily
        cap = self.cap
        for row in p.sessions.values():
            process, worker, day, pcs = row[S_PROCESS], row[S_WORKER], row[S_DATE], row[S_PCS]
            wt, lat, had_error, eligible = (
                row[S_WORK_TIME],
                row[S_LATENCY],
                row[S_HAD_ERROR],
                row[S_ELIGIBLE],
            )
            within = lat <= cap
            sums = daily[(process, worker, day)]
            # In DAILY_SUMS order; map(add) sums them without a Python-level loop.
            sums[:] = map(
                add, sums,
                (1, pcs, wt, wt * wt, row[S_IDLE_TIME], row[S_PROCESS_ERRORS], had_error,
                 eligible, eligible * had_error, 1 if within else 0, lat if within else 0.0,
                 row[S_DEFECTIVE], 1 if process == "inspection" else 0),
            )  # fmt: skip
            code = row[S_ITEM_CODE] or "N/A"
            item = items.get((process, day, code, worker))
            if item is None:
                item = items[(process, day, code, worker)] = ["", NO_NAME, 0, 0]
            if row[S_ITEM_NAME] and row[S_START_TS] < item[1]:
                item[0], item[1] = row[S_ITEM_NAME], row[S_START_TS]
            item[2] += 1
            item[3] += pcs
            hour = hours.get((process, day, row[S_HOUR], worker))
            if hour is None:
                hour = hours[(process, day, row[S_HOUR], worker)] = [0, 0]
            hour[0] += 1
            hour[1] += pcs
        unit = Unit(gen)
        if touched:
            # Deleted first, then the merged spans of every touched file written again.
            unit.add(Rows(_DELETE_LINES, 1, list(touched), ")", "?"))
            spans = [(f, lo, hi) for f in touched for lo, hi in self.covered[f]]
            unit.add(insert("work_file_lines", ("file_id", "lo", "hi"), flat(spans)))
        sessions = flat(p.sessions.values())
        unit.add(insert("work_session", SESSION_COLUMNS, sessions))
        if p.latency_updates:
            moved = [(lat, i) for i, lat in p.latency_updates.items()]
            unit.singles.append(("UPDATE work_session SET latency = ? WHERE id = ?", moved))
        sums = flat((*k, *v) for k, v in daily.items())
        unit.add(insert("work_daily", DAILY_KEYS + DAILY_SUMS, sums, _DAILY_CONFLICT))
        item_rows = flat((*k, *v) for k, v in items.items())
        unit.add(insert("work_item_daily", ITEM_COLUMNS, item_rows, _ITEM_CONFLICT))
        hour_rows = flat((*k, *v) for k, v in hours.items())
        unit.add(insert("work_hourly", HOUR_COLUMNS, hour_rows, _COUNT_CONFLICT))
        event_rows = flat((*k, n) for k, n in p.events.items())
        unit.add(insert("work_event_daily", EVENT_COLUMNS, event_rows, _EVENTS_CONFLICT))
        unit.add(insert("work_scan", SCAN_COLUMNS, p.scans))
        unit.add(insert("work_error", ERROR_COLUMNS, flat(p.errors)))
        unit.add(insert("work_problem", PROBLEM_COLUMNS, flat(p.problems)))
        return unit


_DELETE_LINES = "DELETE FROM work_file_lines WHERE file_id IN ("
_DAILY_CONFLICT = "ON CONFLICT DO UPDATE SET " + ", ".join(
    f"{c} = {c} + excluded.{c}" for c in DAILY_SUMS
)
_ITEM_CONFLICT = (
    "ON CONFLICT DO UPDATE SET n = n + excluded.n, pcs = pcs + excluded.pcs,"
    " item_name = CASE WHEN excluded.name_ts < name_ts THEN excluded.item_name"
    " ELSE item_name END, name_ts = MIN(name_ts, excluded.name_ts)"
)
_COUNT_CONFLICT = "ON CONFLICT DO UPDATE SET n = n + excluded.n, pcs = pcs + excluded.pcs"
_EVENTS_CONFLICT = "ON CONFLICT DO UPDATE SET events = events + excluded.events"


def _inside(spans: list[list[int]], line: int) -> bool:
    return any(lo <= line <= hi for lo, hi in spans)


def _problem(
    process: str, worker: str, kind: str, reason: str, path: str, file_id: str, line: int,
    ts: str = "",
) -> tuple[Any, ...]:  # fmt: skip
    """A work_problem row in PROBLEM_COLUMNS order."""
    return (process, worker, kind, reason, path, file_id, line, ts)
