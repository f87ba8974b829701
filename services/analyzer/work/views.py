"""The views of DESIGN §3: today, hourly against the 30-day average, items by day, daily
averages, error log, trace, data problems and the Overview's ``work_today``."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from services.analyzer.work.filters import WorkFilter
from services.analyzer.work.sessions import PROCESSES
from services.analyzer.work.values import iso
from services.analyzer.work.where import where
from services.core.config.analyzer import AnalyzerSettings

HOURS = range(6, 23)
NO_NAME = 1e18
EPOCH = datetime(1970, 1, 1)  # scans keep wall-clock seconds since this (values.seconds)  # 06–22 h


def working_day(conn: Connection, f: WorkFilter, settings: AnalyzerSettings, today: str) -> str:
    """Today if it has sessions, else the last day before it that has."""
    clause, params = where(f, settings, dates=False)
    params["today"] = today
    found = conn.execute(
        text(f"SELECT MAX(date) FROM work_daily {clause} AND date <= :today AND n > 0"), params
    ).scalar()
    return str(found or today)


def today_view(
    conn: Connection, f: WorkFilter, settings: AnalyzerSettings, today: str
) -> dict[str, Any]:
    """Per worker and per item for the working day, and pcs per hour against 30 days."""
    day = working_day(conn, f, settings, today)
    clause, params = where(f, settings, dates=False)
    params["day"] = day
    workers = [
        {"worker": w, "trays": n, "pcs": pcs, "avg_time": wt / n if n else 0.0}
        for w, n, pcs, wt in conn.execute(
            text(
                f"SELECT worker, SUM(n), SUM(pcs), SUM(wt_sum) FROM work_daily {clause}"
                " AND date = :day GROUP BY worker ORDER BY SUM(pcs) DESC, worker"
            ),
            params,
        )
    ]
    items = [
        {"item_code": c, "item_name": name or "", "trays": n, "pcs": pcs}
        for c, name, _, n, pcs in conn.execute(
            text(
                # SQLite takes the bare item_name from the row of MIN(name_ts).
                f"SELECT item_code, item_name, MIN(name_ts), SUM(n), SUM(pcs) FROM"
                f" work_item_daily {clause} AND date = :day GROUP BY item_code"
                " ORDER BY SUM(pcs) DESC, item_code"
            ),
            params,
        )
    ]
    return {
        "day": day,
        "workers": workers,
        "items": items,
        "hourly": hourly(conn, f, settings, day),
    }


def hourly(conn: Connection, f: WorkFilter, settings: AnalyzerSettings, day: str) -> dict[str, Any]:
    """Pcs per completion hour 06–22 on ``day`` and the mean per working day of the 30 before."""
    clause, params = where(f, settings, dates=False)
    start = (date.fromisoformat(day) - timedelta(days=30)).isoformat()
    params.update(day=day, start=start)
    today = dict.fromkeys(HOURS, 0)
    for hour, pcs in conn.execute(
        text(f"SELECT hour, SUM(pcs) FROM work_hourly {clause} AND date = :day GROUP BY hour"),
        params,
    ):
        if hour in today:
            today[hour] = pcs
    days = conn.execute(
        text(
            f"SELECT COUNT(DISTINCT date) FROM work_daily {clause}"
            " AND date >= :start AND date < :day AND n > 0"
        ),
        params,
    ).scalar()
    average = dict.fromkeys(HOURS, 0.0)
    for hour, pcs in conn.execute(
        text(
            f"SELECT hour, SUM(pcs) FROM work_hourly {clause}"
            " AND date >= :start AND date < :day GROUP BY hour"
        ),
        params,
    ):
        if hour in average and days:
            average[hour] = pcs / days
    return {
        "hours": list(HOURS),
        "pcs": [today[h] for h in HOURS],
        "avg_30d": [average[h] for h in HOURS],
        "avg_days": days or 0,
    }


def daily(conn: Connection, f: WorkFilter, settings: AnalyzerSettings) -> dict[str, Any]:
    """Trays and pcs per day in the filter, and their averages per working day."""
    clause, params = where(f, settings)
    rows = [
        {"date": d, "trays": n, "pcs": pcs, "workers": workers}
        for d, n, pcs, workers in conn.execute(
            text(
                f"SELECT date, SUM(n), SUM(pcs), COUNT(DISTINCT worker) FROM work_daily {clause}"
                " AND n > 0 GROUP BY date ORDER BY date"
            ),
            params,
        )
    ]
    count = len(rows)
    return {
        "days": rows,
        "avg_trays": sum(r["trays"] for r in rows) / count if count else 0.0,
        "avg_pcs": sum(r["pcs"] for r in rows) / count if count else 0.0,
    }


def items_by_day(conn: Connection, f: WorkFilter, settings: AnalyzerSettings) -> dict[str, Any]:
    """Production per item (item_code, "N/A" when missing) and per day."""
    clause, params = where(f, settings)
    rows = conn.execute(
        text(
            f"SELECT item_code, date, item_name, MIN(name_ts), SUM(n), SUM(pcs) FROM"
            f" work_item_daily {clause} GROUP BY item_code, date ORDER BY item_code, date"
        ),
        params,
    ).all()
    items: dict[str, dict[str, Any]] = {}
    for code, day, name, name_ts, n, pcs in rows:
        item = items.setdefault(
            code,
            {"item_code": code, "item_name": "", "name_ts": NO_NAME, "trays": 0, "pcs": 0,
             "days": {}},
        )  # fmt: skip
        if name and name_ts < item["name_ts"]:
            item["item_name"], item["name_ts"] = name, name_ts
        item["trays"] += n
        item["pcs"] += pcs
        item["days"][day] = pcs
    for item in items.values():
        del item["name_ts"]
    return {"items": sorted(items.values(), key=lambda i: (-i["pcs"], i["item_code"]))}


def error_log(
    conn: Connection, f: WorkFilter, settings: AnalyzerSettings, limit: int = 200, offset: int = 0
) -> dict[str, Any]:
    """Error-log entries filtered by the event's date and worker, newest first."""
    clause, params = where(f, settings)
    total = conn.execute(text(f"SELECT COUNT(*) FROM work_error {clause}"), params).scalar()
    params.update(limit=limit, offset=offset)
    entries = [
        dict(r._mapping)
        for r in conn.execute(
            text(
                "SELECT process, worker, ts, date, event, details, path, line FROM work_error"
                f" {clause} ORDER BY ts DESC, id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        )
    ]
    return {"total": total or 0, "entries": entries}


EXPORT_COLUMNS = (
    "process", "worker", "date", "start", "end", "work_time", "idle_time", "latency", "pcs",
    "process_errors", "had_error", "is_partial", "is_restored", "is_test", "defective",
    "item_code", "item_name", "shipping_date", "work_order", "phase", "supplier", "batch",
    "item_group", "path", "line",
)  # fmt: skip


ERROR_EXPORT_COLUMNS = ("process", "worker", "ts", "event", "details", "path", "line")


def export_page(
    conn: Connection, f: WorkFilter, settings: AnalyzerSettings, what: str, after: int, limit: int
) -> dict[str, Any]:
    """One page of an export (sessions or errors) after row id ``after``; ``next`` is the cursor.

    Keyset paging keeps each page an index range, so a large export streams in constant work.
    """
    columns: tuple[str, ...]
    if what == "sessions":
        table, columns = "work_session", EXPORT_COLUMNS
        clause, params = where(f, settings, shipping=True)
    else:
        table, columns = "work_error", ERROR_EXPORT_COLUMNS
        clause, params = where(f, settings)
    params.update(after=after, limit=limit)
    rows = conn.execute(
        text(
            f"SELECT id, {', '.join(columns)} FROM {table} {clause} AND id > :after"
            " ORDER BY id LIMIT :limit"
        ),
        params,
    ).all()
    return {
        "columns": list(columns),
        "rows": [list(r[1:]) for r in rows],
        "next": rows[-1][0] if len(rows) == limit else None,
    }


_TRACE_COLUMNS = (
    "id, process, worker, start, end, work_order, item_code, item_name, pcs, shipping_date, path,"
    " line, start_ts, end_ts"
)


def trace(conn: Connection, kind: str, value: str, limit: int = 500) -> dict[str, Any]:
    """Sessions of a work order or item; for a barcode its scans, their sessions, processes."""
    value = value.strip()
    scans: list[dict[str, Any]] = []
    if kind == "work_order":
        sql, params = (
            f"SELECT {_TRACE_COLUMNS} FROM work_session WHERE work_order = :v",
            {"v": value},
        )
    elif kind == "item":
        sql, params = (
            f"SELECT {_TRACE_COLUMNS} FROM work_session WHERE item_code = :v",
            {"v": value},
        )
    elif kind == "barcode":
        scans = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT process, worker, ts_s, barcode, interval_sec FROM work_scan"
                    " WHERE barcode = :v ORDER BY ts_s LIMIT :limit"
                ),
                {"v": value, "limit": limit},
            )
        ]
        sessions = {}
        for scan in scans:
            scan["ts"] = iso(EPOCH + timedelta(seconds=scan["ts_s"]))
            # The scan belongs to the first session of that worker that ends at or after it.
            row = conn.execute(
                text(
                    f"SELECT {_TRACE_COLUMNS} FROM work_session WHERE process = :p AND worker = :w"
                    " AND end_ts >= :t AND start_ts <= :t ORDER BY end_ts LIMIT 1"
                ),
                {"p": scan["process"], "w": scan["worker"], "t": scan["ts_s"]},
            ).first()
            if row is not None:
                sessions[row.id] = _trace_row(row)
        found = sorted(sessions.values(), key=lambda s: s["start"])
        return {"kind": kind, "value": value, "scans": scans, "sessions": found,
                "processes": _processes(found, scans)}  # fmt: skip
    else:
        raise ValueError(f"parameter 'kind': expected work_order, item or barcode, got {kind!r}")
    rows = conn.execute(text(f"{sql} ORDER BY start_ts LIMIT :limit"), {**params, "limit": limit})
    found = [_trace_row(r) for r in rows]
    return {"kind": kind, "value": value, "scans": scans, "sessions": found,
            "processes": _processes(found, scans)}  # fmt: skip


def _trace_row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out.pop("start_ts", None)
    out.pop("end_ts", None)
    return out


def _processes(sessions: list[dict[str, Any]], scans: list[dict[str, Any]]) -> list[str]:
    seen = {s["process"] for s in sessions} | {s["process"] for s in scans}
    return [p for p in PROCESSES if p in seen]


def problems(conn: Connection, process: str, limit: int = 50) -> dict[str, Any]:
    """Data problems (rows and sessions the spec cannot use): counts by kind and the latest."""
    procs = PROCESSES if process == "all" else (process,)
    marks = ", ".join(f":p{i}" for i in range(len(procs)))
    params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(procs)}
    counts = {
        kind: n
        for kind, n in conn.execute(
            text(
                f"SELECT kind, COUNT(*) FROM work_problem WHERE process IN ({marks}) GROUP BY kind"
            ),
            params,
        )
    }
    unknown = conn.execute(
        text("SELECT COUNT(*) FROM work_problem WHERE kind = 'process'")
    ).scalar()
    latest = [
        dict(r._mapping)
        for r in conn.execute(
            text(
                "SELECT process, worker, kind, reason, path, line, ts FROM work_problem"
                f" WHERE process IN ({marks}) ORDER BY id DESC LIMIT :limit"
            ),
            {**params, "limit": limit},
        )
    ]
    return {"counts": counts, "total": sum(counts.values()), "unknown_process": unknown or 0,
            "latest": latest}  # fmt: skip


def work_today(conn: Connection, settings: AnalyzerSettings, today: str) -> dict[str, Any]:
    """The Overview tiles: per process today's events, trays (sessions) and pcs."""
    out: dict[str, Any] = {"date": today, "processes": {}}
    for process in PROCESSES:
        events = conn.execute(
            text("SELECT events FROM work_event_daily WHERE process = :p AND date = :d"),
            {"p": process, "d": today},
        ).scalar()
        f = WorkFilter(process=process, date_from=today, date_to=today)
        clause, params = where(f, settings)
        trays, pcs = conn.execute(
            text(f"SELECT COALESCE(SUM(n), 0), COALESCE(SUM(pcs), 0) FROM work_daily {clause}"),
            params,
        ).one()
        out["processes"][process] = {"events": events or 0, "trays": trays, "pcs": pcs}
    return out


def details_text(details: str) -> str:
    """The stored JSON of an error's details as ``k=v`` text for tables and CSV."""
    try:
        parsed = json.loads(details)
    except ValueError:
        return details
    if isinstance(parsed, dict):
        return " | ".join(f"{k}={v}" for k, v in parsed.items())
    return details
