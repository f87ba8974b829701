"""The analyzer-work.sqlite schema: sessions, raw scans and errors, maintained daily aggregates.

The tables are generated (tables.py) from the SQLModel classes in models.py.
"""

from __future__ import annotations

from services.analyzer.work.tables import metadata, work_session

__all__ = ["metadata"]

DAILY_SUMS = (
    "n", "pcs", "wt_sum", "wt_sq", "idle_sum", "errors", "had_err",
    "elig_n", "elig_err", "lat_n", "lat_sum", "defective", "insp_n",
)  # fmt: skip
DAILY_KEYS = ("process", "worker", "date")
ITEM_COLUMNS = ("process", "date", "item_code", "worker", "item_name", "name_ts", "n", "pcs")
HOUR_COLUMNS = ("process", "date", "hour", "worker", "n", "pcs")
EVENT_COLUMNS = ("process", "date", "events")
SESSION_COLUMNS = tuple(work_session.c.keys())
# Columns the writer fills, in the order of its row tuples.
SCAN_COLUMNS = ("process", "worker", "ts_s", "barcode", "interval_sec")
ERROR_COLUMNS = ("process", "worker", "ts", "date", "event", "details", "path", "file_id", "line")
PROBLEM_COLUMNS = ("process", "worker", "kind", "reason", "path", "file_id", "line", "ts")
