"""Turn one TRAY_COMPLETE work event into a session row (DESIGN §3 "Session fields")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.analyzer.work.values import (
    as_bool,
    as_count,
    as_date,
    as_float,
    as_text,
    first,
    iso,
    parse_ts,
    seconds,
)

PROCESSES = ("packing", "transfer", "inspection")
TRAY_COMPLETE = "TRAY_COMPLETE"
SCAN_OK = "SCAN_OK"
_ERROR_EVENT = re.compile(r"ERROR|FAIL|CANCEL", re.IGNORECASE)

# (session field, the detail keys in priority order)
NUMBER_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("work_time", ("work_time", "work_time_sec")),
    ("idle_time", ("idle_time", "total_idle_seconds")),
)
COUNT_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("process_errors", ("process_errors", "error_count")),
    ("defective", ("defective_count",)),
)
FLAG_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("had_error", ("had_error", "has_error_or_reset")),
    ("is_partial", ("is_partial", "is_partial_submission")),
    ("is_restored", ("is_restored_session",)),
    ("is_test", ("is_test", "is_test_tray")),
)
TEXT_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("item_code", ("CLC", "item_code")),
    ("item_name", ("item_name",)),
    ("work_order", ("WID",)),
    ("phase", ("PHS",)),
    ("supplier", ("SPC",)),
    ("batch", ("FPB",)),
    ("item_group", ("IG",)),
)


def is_error_event(name: str) -> bool:
    """Error-log entries: the event name contains ERROR, FAIL or CANCEL in any case."""
    return bool(_ERROR_EVENT.search(name))


@dataclass
class BuiltSession:
    """A session ready to store, plus the fields whose numbers could not be read."""

    row: dict[str, Any]
    bad_fields: list[str] = field(default_factory=list)


def pcs_of(process: str, details: dict[str, Any], pcs_per_tray: int) -> tuple[int, list[str]]:
    """Pieces of one tray: fixed for packing, good+defective for inspection, scans for transfer."""
    if process == "packing":
        return pcs_per_tray, []
    if process == "inspection":
        good, ok_good = as_count(details.get("good_count"))
        bad, ok_bad = as_count(details.get("defective_count"))
        problems = [k for k, ok in (("good_count", ok_good), ("defective_count", ok_bad)) if not ok]
        return good + bad, problems
    scans, ok = as_count(details.get("scan_count"))
    return scans, [] if ok else ["scan_count"]


def build_session(
    *, process: str, worker: str, end: datetime, details: dict[str, Any], pcs_per_tray: int
) -> BuiltSession | str:
    """The session of a TRAY_COMPLETE row, or the reason it cannot be built."""
    get = details.get
    raw_start = get("start_time")
    if raw_start is None:
        return "missing start_time"
    start = parse_ts(raw_start)
    if start is None:
        return f"bad start_time {as_text(raw_start)[:40]!r}"
    row: dict[str, Any] = {
        "process": process,
        "worker": worker,
        "start": iso(start),
        "start_ts": seconds(start),
        "end": iso(end),
        "end_ts": seconds(end),
        "date": start.date().isoformat(),
        "hour": end.hour,
    }
    bad: list[str] = []
    # "First key found wins" (values.first), inlined: this runs once per tray of a backfill.
    for name, keys in NUMBER_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[name], ok = as_float(value)
        if not ok:
            bad.append(name)
    for name, keys in COUNT_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[name], ok = as_count(value)
        if not ok:
            bad.append(name)
    for name, keys in FLAG_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[name] = 1 if as_bool(value) else 0
    for name, keys in TEXT_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[name] = as_text(value)
    row["shipping_date"] = as_date(first(details, ("OBD", "shipping_date")))
    row["pcs"], pcs_bad = pcs_of(process, details, pcs_per_tray)
    if pcs_bad:
        bad.extend(pcs_bad)
    row["eligible"] = int(not (row["is_test"] or row["is_partial"] or row["is_restored"]))
    row["clean"] = int(
        row["pcs"] == pcs_per_tray
        and not row["had_error"]
        and row["process_errors"] == 0
        and row["eligible"]
    )
    return BuiltSession(row, bad)
