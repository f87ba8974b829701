"""The one writer of analyzer-work.sqlite: applies WorkBatches idempotently and incrementally.

Work per batch is proportional to its rows: sessions, scans and errors are inserted,
and the maintained aggregates (daily, item, hourly, events) get additive upserts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from services.analyzer.work.schema import DAILY_SUMS, SESSION_COLUMNS, WorkBase
from services.analyzer.work.sessions import (
    PROCESSES,
    SCAN_OK,
    TRAY_COMPLETE,
    build_session,
    is_error_event,
)
from services.analyzer.work.timeline import Slot, Timeline
from services.analyzer.work.values import as_float, as_text, iso, parse_ts, seconds
from services.core.config.analyzer import AnalyzerSettings
from services.core.contracts import WorkBatch

NO_NAME = 1e18  # name_ts of an item row that has no name yet


def open_engine(path: Path) -> Engine:
    """A SQLite engine in WAL mode (readers never block the writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages of a backfill stay hot
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    WorkBase.metadata.create_all(engine)
    return engine


@dataclass
class Applied:
    """What one apply() changed, per process."""

    sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: int = 0
    problems: int = 0


class _Pending:
    """Rows and aggregate deltas of one transaction."""

    def __init__(self) -> None:
        self.sessions: dict[int, dict[str, Any]] = {}
        self.scans: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.problems: list[dict[str, Any]] = []
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

    def _is_covered(self, file_id: str, line: int) -> bool:
        return any(lo <= line <= hi for lo, hi in self.covered.get(file_id, ()))

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
        applied = Applied()
        pending = _Pending()
        touched: set[str] = set()
        try:
            self._write(batches, pending, applied, touched)
        except BaseException:
            # The transaction rolled back: forget what memory learned from it.
            self._load()
            raise
        applied.problems = len(pending.problems)
        return applied

    def _write(
        self, batches: list[WorkBatch], pending: _Pending, applied: Applied, touched: set[str]
    ) -> None:
        with self.engine.begin() as conn:
            for batch in batches:
                self._apply_batch(conn, batch, pending, applied)
                touched.add(batch.file_id)
            self._flush(conn, pending)
            _many(
                conn,
                ("DELETE FROM work_file_lines WHERE file_id = :f"),
                [{"f": f} for f in touched],
            )
            rows = [{"f": f, "lo": lo, "hi": hi} for f in touched for lo, hi in self.covered[f]]
            if rows:
                _many(
                    conn,
                    ("INSERT INTO work_file_lines (file_id, lo, hi) VALUES (:f, :lo, :hi)"),
                    rows,
                )

    def _apply_batch(self, conn: Any, batch: WorkBatch, p: _Pending, applied: Applied) -> None:
        fresh = [e for e in batch.events if not self._is_covered(batch.file_id, e.line)]
        applied.duplicates += len(batch.events) - len(fresh)
        if not fresh:
            return
        # One read of a file is contiguous: lines missing inside it were not events.
        lines = [e.line for e in batch.events]
        self._cover(batch.file_id, min(lines), max(lines))
        process = batch.process
        if process not in PROCESSES:
            p.problems.append(
                _problem(process, batch.worker, "process", f"unknown process {process!r}",
                         batch.path, batch.file_id, fresh[0].line)
            )  # fmt: skip
            return
        for ev in fresh:
            raw_worker = ev.worker or batch.worker
            worker = self.worker_name(raw_worker)
            moment = parse_ts(ev.ts)
            if moment is None:
                p.problems.append(
                    _problem(process, worker, "timestamp", f"bad timestamp {ev.ts[:40]!r}",
                             batch.path, batch.file_id, ev.line)
                )  # fmt: skip
                continue
            day = moment.date().isoformat()
            p.events[(process, day)] += 1
            applied.events[process] += 1
            name = ev.event.strip()
            upper = name.upper()
            if upper == TRAY_COMPLETE:
                built = build_session(
                    process=process, worker=worker, end=moment, details=ev.details,
                    pcs_per_tray=self.settings.pcs_per_tray,
                )  # fmt: skip
                if isinstance(built, str):
                    p.problems.append(
                        _problem(process, worker, "start_time", built, batch.path,
                                 batch.file_id, ev.line, iso(moment))
                    )  # fmt: skip
                    continue
                if built.bad_fields:
                    p.problems.append(
                        _problem(process, worker, "number",
                                 f"unreadable number in {', '.join(built.bad_fields)} (0 used)",
                                 batch.path, batch.file_id, ev.line, iso(moment))
                    )  # fmt: skip
                row = built.row
                row.update(raw_worker=raw_worker, file_id=batch.file_id, path=batch.path,
                           line=ev.line)  # fmt: skip
                self._add_session(conn, row, p)
                applied.sessions[process] += 1
            elif upper == SCAN_OK:
                p.scans.append(
                    {"process": process, "worker": worker, "ts_s": seconds(moment),
                     "barcode": as_text(ev.details.get("barcode")),
                     "interval_sec": as_float(ev.details.get("interval_sec"))[0]}
                )  # fmt: skip
            if is_error_event(name):
                p.errors.append(
                    {"process": process, "worker": worker, "ts": iso(moment), "date": day,
                     "event": name, "details": json.dumps(ev.details, ensure_ascii=False,
                                                          default=str)[:4000],
                     "path": batch.path, "file_id": batch.file_id, "line": ev.line}
                )  # fmt: skip

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

    def _add_session(self, conn: Any, row: dict[str, Any], p: _Pending) -> None:
        timeline = self._timeline(conn, row["process"], row["worker"])
        row["id"] = self.next_id
        self.next_id += 1
        slot = Slot(row["id"], row["end_ts"], 0.0, row["date"])
        changed = timeline.insert((row["start_ts"], row["end_ts"], row["path"], row["line"]), slot)
        row["latency"] = slot.latency
        p.sessions[row["id"]] = row
        if changed is None:
            return
        successor, old = changed
        pending_row = p.sessions.get(successor.session_id)
        if pending_row is not None:
            pending_row["latency"] = successor.latency
            return
        # A stored session's latency changed: move its contribution in the daily sums.
        p.latency_updates[successor.session_id] = successor.latency
        sums = p.daily[(row["process"], row["worker"], successor.date)]
        lat_n, lat_sum = DAILY_SUMS.index("lat_n"), DAILY_SUMS.index("lat_sum")
        if old <= self.cap:
            sums[lat_n] -= 1
            sums[lat_sum] -= old
        if successor.latency <= self.cap:
            sums[lat_n] += 1
            sums[lat_sum] += successor.latency

    def _flush(self, conn: Any, p: _Pending) -> None:
        items: dict[tuple[str, str, str, str], list[Any]] = {}
        hours: dict[tuple[str, str, int, str], list[int]] = defaultdict(lambda: [0, 0])
        for row in p.sessions.values():
            sums = p.daily[(row["process"], row["worker"], row["date"])]
            wt, lat = row["work_time"], row["latency"]
            within = lat <= self.cap
            for i, value in enumerate(
                (1, row["pcs"], wt, wt * wt, row["idle_time"], row["process_errors"],
                 row["had_error"], row["eligible"], row["eligible"] * row["had_error"],
                 int(within), lat if within else 0.0, row["defective"],
                 int(row["process"] == "inspection"))
            ):  # fmt: skip
                sums[i] += value
            code = row["item_code"] or "N/A"
            item = items.setdefault(
                (row["process"], row["date"], code, row["worker"]), ["", NO_NAME, 0, 0]
            )
            if row["item_name"] and row["start_ts"] < item[1]:
                item[0], item[1] = row["item_name"], row["start_ts"]
            item[2] += 1
            item[3] += row["pcs"]
            hour = hours[(row["process"], row["date"], row["hour"], row["worker"])]
            hour[0] += 1
            hour[1] += row["pcs"]
        if p.sessions:
            cols = ", ".join(SESSION_COLUMNS)
            params = ", ".join(f":{c}" for c in SESSION_COLUMNS)
            _many(
                conn,
                (f"INSERT INTO work_session ({cols}) VALUES ({params})"),
                list(p.sessions.values()),
            )
        if p.latency_updates:
            _many(
                conn,
                ("UPDATE work_session SET latency = :lat WHERE id = :id"),
                [{"id": i, "lat": lat} for i, lat in p.latency_updates.items()],
            )
        _upsert_daily(conn, p.daily)
        if items:
            _many(
                conn,
                (
                    "INSERT INTO work_item_daily"
                    " (process, date, item_code, worker, item_name, name_ts, n, pcs)"
                    " VALUES (:p, :d, :c, :w, :name, :name_ts, :n, :pcs)"
                    " ON CONFLICT DO UPDATE SET n = n + excluded.n, pcs = pcs + excluded.pcs,"
                    " item_name = CASE WHEN excluded.name_ts < name_ts THEN excluded.item_name"
                    " ELSE item_name END, name_ts = MIN(name_ts, excluded.name_ts)"
                ),
                [{"p": k[0], "d": k[1], "c": k[2], "w": k[3], "name": v[0], "name_ts": v[1],
                  "n": v[2], "pcs": v[3]} for k, v in items.items()],
            )  # fmt: skip
        if hours:
            _many(
                conn,
                (
                    "INSERT INTO work_hourly (process, date, hour, worker, n, pcs)"
                    " VALUES (:p, :d, :h, :w, :n, :pcs)"
                    " ON CONFLICT DO UPDATE SET n = n + excluded.n, pcs = pcs + excluded.pcs"
                ),
                [{"p": k[0], "d": k[1], "h": k[2], "w": k[3], "n": v[0], "pcs": v[1]}
                 for k, v in hours.items()],
            )  # fmt: skip
        if p.events:
            _many(
                conn,
                (
                    "INSERT INTO work_event_daily (process, date, events) VALUES (:p, :d, :n)"
                    " ON CONFLICT DO UPDATE SET events = events + excluded.events"
                ),
                [{"p": k[0], "d": k[1], "n": n} for k, n in p.events.items()],
            )
        for table, rows in (("work_scan", p.scans), ("work_error", p.errors),
                            ("work_problem", p.problems)):  # fmt: skip
            if rows:
                names = list(rows[0])
                _many(
                conn,
                    (f"INSERT INTO {table} ({', '.join(names)})"
                         f" VALUES ({', '.join(':' + c for c in names)})"),
                    rows,
                )  # fmt: skip


def _upsert_daily(conn: Any, daily: dict[tuple[str, str, str], list[float]]) -> None:
    if not daily:
        return
    cols = ", ".join(DAILY_SUMS)
    params = ", ".join(f":{c}" for c in DAILY_SUMS)
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in DAILY_SUMS)
    _many(
        conn,
        (
            f"INSERT INTO work_daily (process, worker, date, {cols})"
            f" VALUES (:process, :worker, :date, {params}) ON CONFLICT DO UPDATE SET {updates}"
        ),
        [
            {"process": k[0], "worker": k[1], "date": k[2], **dict(zip(DAILY_SUMS, v, strict=True))}
            for k, v in daily.items()
        ],
    )


def _many(conn: Any, sql: str, rows: list[dict[str, Any]]) -> None:
    """executemany straight to sqlite3 (it binds :name from dicts): no per-row compile step."""
    conn.exec_driver_sql(sql, rows)


def _problem(
    process: str, worker: str, kind: str, reason: str, path: str, file_id: str, line: int,
    ts: str = "",
) -> dict[str, Any]:  # fmt: skip
    return {"process": process, "worker": worker, "kind": kind, "reason": reason,
            "path": path, "file_id": file_id, "line": line, "ts": ts}  # fmt: skip
