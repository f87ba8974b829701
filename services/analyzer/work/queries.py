"""KPIs and the worker table over a filter, read from the maintained daily sums.

A shipping-date filter cannot use the daily sums (they are per session date), so it
sums the sessions through the (process, shipping_date) index instead.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, text

from services.analyzer.work.calc import Sums, kpis, score, worker_metrics
from services.analyzer.work.filters import ALL, WorkFilter
from services.analyzer.work.where import where
from services.core.config.analyzer import AnalyzerSettings

_DAILY_SELECT = (
    "SELECT worker, SUM(n), SUM(pcs), SUM(wt_sum), SUM(wt_sq), SUM(idle_sum), SUM(errors),"
    " SUM(had_err), SUM(elig_n), SUM(elig_err), SUM(lat_n), SUM(lat_sum), SUM(defective),"
    " SUM(insp_n), MIN(CASE WHEN n > 0 THEN date END), MAX(CASE WHEN n > 0 THEN date END)"
    " FROM work_daily {where} GROUP BY worker"
)
_SESSION_SELECT = (
    "SELECT worker, COUNT(*), SUM(pcs), SUM(work_time), SUM(work_time * work_time),"
    " SUM(idle_time), SUM(process_errors), SUM(had_error), SUM(eligible),"
    " SUM(eligible * had_error), SUM(latency <= :cap),"
    " SUM(CASE WHEN latency <= :cap THEN latency ELSE 0 END), SUM(defective),"
    " SUM(process = 'inspection'), MIN(date), MAX(date)"
    " FROM work_session {where} GROUP BY worker"
)


def sums_by_worker(conn: Connection, f: WorkFilter, settings: AnalyzerSettings) -> dict[str, Sums]:
    """Summed session columns per worker for the filter."""
    if f.by_shipping:
        clause, params = where(f, settings, shipping=True)
        params["cap"] = settings.latency_cap_s
        sql = _SESSION_SELECT.format(where=clause)
    else:
        clause, params = where(f, settings)
        sql = _DAILY_SELECT.format(where=clause)
    out: dict[str, Sums] = {}
    for row in conn.execute(text(sql), params):
        if not row[1]:
            continue
        values = [v if v is not None else 0 for v in row[1:14]]
        out[row[0]] = Sums.from_row(values, row[14], row[15])
    return out


def kpi_summary(conn: Connection, f: WorkFilter, settings: AnalyzerSettings) -> dict[str, Any]:
    """DESIGN §3 KPIs over the filter."""
    total = Sums()
    for sums in sums_by_worker(conn, f, settings).values():
        total.add(sums)
    return kpis(total)


def worker_table(
    conn: Connection, f: WorkFilter, settings: AnalyzerSettings
) -> list[dict[str, Any]]:
    """Per-worker metrics, best work time this week and overall score, best score first."""
    rows = [worker_metrics(w, s) for w, s in sums_by_worker(conn, f, settings).items()]
    weights = settings.score_weights.get("transfer" if f.process == ALL else f.process, [])
    score(rows, weights)
    best = best_work_times(conn, f, settings)
    for row in rows:
        row["best_work_time"] = best.get(row["worker"])
    rows.sort(key=lambda r: (-r["overall_score"], r["worker"]))
    return rows


def best_work_times(
    conn: Connection, f: WorkFilter, settings: AnalyzerSettings
) -> dict[str, float | None]:
    """Fastest clean session this week above max(180 s, 0.6 × the clean 7-day mean).

    Over the view's whole history (the date and shipping filters do not apply); ties go
    to the earliest session.
    """
    as_of = date.fromisoformat(f.as_of)
    week_start = as_of - timedelta(days=as_of.weekday())
    seven = as_of - timedelta(days=7)
    clause, params = where(f, settings, dates=False)
    params.update(lo=min(seven, week_start).isoformat(), hi=as_of.isoformat())
    rows = conn.execute(
        text(
            f"SELECT worker, date, work_time FROM work_session {clause}"
            " AND clean = 1 AND date >= :lo AND date <= :hi"
            " ORDER BY start_ts, end_ts, path, line"
        ),
        params,
    ).all()
    by_worker: dict[str, list[tuple[str, float]]] = {}
    for worker, day, work_time in rows:
        by_worker.setdefault(worker, []).append((day, work_time))
    out: dict[str, float | None] = {}
    seven_s, week_s = seven.isoformat(), week_start.isoformat()
    for worker, sessions in by_worker.items():
        recent = [wt for day, wt in sessions if day >= seven_s]
        mean = sum(recent) / len(recent) if recent else 0.0
        floor = max(180.0, 0.6 * mean)
        best: float | None = None
        for day, wt in sessions:  # in session order: a strict < keeps the earliest of ties
            if day >= week_s and wt >= floor and (best is None or wt < best):
                best = wt
        out[worker] = best
    return out
