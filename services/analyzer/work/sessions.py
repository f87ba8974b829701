"""Turn one TRAY_COMPLETE work event into a session row (DESIGN §3 "Session fields")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.analyzer.work.schema import SESSION_COLUMNS
from services.analyzer.work.tables import work_session
from services.analyzer.work.values import (
    as_bool,
    as_count,
    as_date,
    as_float,
    as_text,
    first,
    iso,
    parse_ts,
)

PROCESSES = ("packing", "transfer", "inspection")
TRAY_COMPLETE = "TRAY_COMPLETE"
SCAN_OK = "SCAN_OK"
_EPOCH = datetime(1970, 1, 1)
_EXACT = 2**53  # numbers a float holds exactly; bigger ones take the rule functions' path
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


# Column indexes of a session row (SESSION_COLUMNS order) and the row every session starts from.
col = {name: i for i, name in enumerate(SESSION_COLUMNS)}
# SESSION_COLUMNS is work_session's column order: each column's default, 0 where it has none.
_TEMPLATE: list[Any] = [
    c.default.arg if c.default is not None else 0  # type: ignore[attr-defined]
    for c in work_session.c
]
_PROCESS, _WORKER, _START, _START_TS = col["process"], col["worker"], col["start"], col["start_ts"]
_END, _END_TS, _DATE, _HOUR = col["end"], col["end_ts"], col["date"], col["hour"]
_SHIP, _PCS, _ELIGIBLE, _CLEAN = col["shipping_date"], col["pcs"], col["eligible"], col["clean"]
_IS_TEST, _IS_PARTIAL, _IS_RESTORED = col["is_test"], col["is_partial"], col["is_restored"]
_HAD_ERROR, _PROCESS_ERRORS = col["had_error"], col["process_errors"]
_NUMBER_KEYS = [(name, col[name], keys) for name, keys in NUMBER_KEYS]
_COUNT_KEYS = [(name, col[name], keys) for name, keys in COUNT_KEYS]
_FLAG_KEYS = [(col[name], keys) for name, keys in FLAG_KEYS]
_TEXT_KEYS = [(col[name], keys) for name, keys in TEXT_KEYS]


def is_error_event(name: str) -> bool:
    """Error-log entries: the event name contains ERROR, FAIL or CANCEL in any case."""
    return bool(_ERROR_EVENT.search(name))


@dataclass
class BuiltSession:
    """A session ready to store, plus the fields whose numbers could not be read.

    ``row`` is in SESSION_COLUMNS order (col[name] gives the index): a backfill stores
    hundreds of thousands, and lists are cheaper than dicts to fill, read and flatten.
    """

    row: list[Any]
    bad_fields: list[str] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Any]:
        return dict(zip(SESSION_COLUMNS, self.row, strict=True))


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
    row = _TEMPLATE.copy()
    row[_PROCESS] = process
    row[_WORKER] = worker
    row[_START] = iso(start)
    row[_START_TS] = (start - _EPOCH).total_seconds()  # values.seconds, inlined
    row[_END] = iso(end)
    row[_END_TS] = (end - _EPOCH).total_seconds()
    row[_DATE] = start.date().isoformat()
    row[_HOUR] = end.hour
    bad: list[str] = []
    value: Any = None
    # "First key found wins" (values.first) and the value rules (values.as_*), with the
    # common JSON types handled inline: this runs once per tray of a backfill, and the
    # calls were a third of its cost. Anything else goes through the rule functions.
    for name, idx, keys in _NUMBER_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        kind = type(value)
        if kind is float and value - value == 0.0:  # not NaN or ±inf
            row[idx] = value
        elif kind is int and -_EXACT <= value <= _EXACT:
            row[idx] = float(value)
        elif value is None:
            row[idx] = 0.0
        else:
            row[idx], ok = as_float(value)
            if not ok:
                bad.append(name)
    for name, idx, keys in _COUNT_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        if type(value) is int and -_EXACT <= value <= _EXACT:
            row[idx] = value
        elif value is None:
            row[idx] = 0
        else:
            row[idx], ok = as_count(value)
            if not ok:
                bad.append(name)
    for idx, keys in _FLAG_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[idx] = (
            1 if value is True else 0 if value is None or value is False else int(as_bool(value))
        )
    for idx, keys in _TEXT_KEYS:
        for key in keys:
            value = get(key)
            if value is not None:
                break
        row[idx] = value.strip() if type(value) is str else "" if value is None else as_text(value)
    row[_SHIP] = as_date(first(details, ("OBD", "shipping_date")))
    row[_PCS], pcs_bad = pcs_of(process, details, pcs_per_tray)
    if pcs_bad:
        bad.extend(pcs_bad)
    row[_ELIGIBLE] = eligible = int(not (row[_IS_TEST] or row[_IS_PARTIAL] or row[_IS_RESTORED]))
    row[_CLEAN] = int(
        row[_PCS] == pcs_per_tray and not row[_HAD_ERROR] and row[_PROCESS_ERRORS] == 0 and eligible
    )
    return BuiltSession(row, bad)
