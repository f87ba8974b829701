"""Helpers of the work-analytics tests: a writer on a real SQLite file, and reading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import text

from services.analyzer.work import queries, views
from services.analyzer.work.filters import parse_filter
from services.analyzer.work.store import open_engine
from services.analyzer.work.writer import WorkWriter
from services.core.config.analyzer import AnalyzerSettings
from services.core.contracts import WorkBatch, WorkEvent


def settings(**kw: Any) -> AnalyzerSettings:
    return msgspec.convert(kw, AnalyzerSettings)


def writer(path: Path, **kw: Any) -> WorkWriter:
    return WorkWriter(open_engine(path), settings(**kw))


def kpis(w: WorkWriter, **params: Any) -> dict[str, Any]:
    with w.engine.connect() as conn:
        return queries.kpi_summary(conn, parse_filter(params), w.settings)


def workers(w: WorkWriter, **params: Any) -> dict[str, dict[str, Any]]:
    with w.engine.connect() as conn:
        rows = queries.worker_table(conn, parse_filter(params), w.settings)
    return {r["worker"]: r for r in rows}


def view(w: WorkWriter, fn: Any, *args: Any, **params: Any) -> Any:
    with w.engine.connect() as conn:
        return fn(conn, parse_filter(params), w.settings, *args)


def problems(w: WorkWriter, process: str = "all") -> dict[str, Any]:
    with w.engine.connect() as conn:
        return views.problems(conn, process)


def dump(w: WorkWriter) -> dict[str, list[tuple[Any, ...]]]:
    """Every maintained table, ordered, for comparing two databases."""
    out = {}
    queries_ = {
        "daily": "SELECT * FROM work_daily ORDER BY process, worker, date",
        "items": "SELECT * FROM work_item_daily ORDER BY process, date, item_code, worker",
        "hourly": "SELECT * FROM work_hourly ORDER BY process, date, hour, worker",
        "events": "SELECT * FROM work_event_daily ORDER BY process, date",
        "sessions": "SELECT process, worker, file_id, line, latency, pcs, work_time FROM"
        " work_session ORDER BY file_id, line",
        "scans": "SELECT process, worker, ts_s, barcode FROM work_scan"
        " ORDER BY process, worker, ts_s, barcode",
        "errors": "SELECT file_id, line, event FROM work_error ORDER BY file_id, line",
    }
    with w.engine.connect() as conn:
        for name, sql in queries_.items():
            out[name] = [tuple(_round(v) for v in row) for row in conn.execute(text(sql))]
    return out


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


def tray(
    process: str, worker: str, start: str, end: str, line: int, path: str = "f.csv", **details: Any
) -> WorkBatch:
    """A one-row batch holding one TRAY_COMPLETE."""
    d = {"start_time": start, **details} if start else dict(details)
    return event_batch(process, worker, end, "TRAY_COMPLETE", d, line, path)


def event_batch(
    process: str, worker: str, ts: str, event: str, details: dict[str, Any], line: int,
    path: str = "f.csv",
) -> WorkBatch:  # fmt: skip
    ev = WorkEvent(line=line, ts=ts, worker=worker, process=process, event=event, details=details)
    return WorkBatch(source="t", path=path, file_id=f"id:{path}:{worker}:{process}", start=line,
                     end=line + 1, process=process, worker=worker, events=[ev])  # fmt: skip
