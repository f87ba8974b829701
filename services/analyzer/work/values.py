"""DESIGN §3 value rules: timestamps, numbers, counts, booleans and "first key found wins"."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")
_DATE = re.compile(r"^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})")
_TRUE = {"1", "true", "t", "yes", "y"}
_EPOCH = datetime(1970, 1, 1)
_MAX_COUNT = 2**53  # floats hold every integer up to here exactly


def parse_ts(value: Any) -> datetime | None:
    """Local time ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]``, no zone; None when it is not that."""
    if not isinstance(value, str):
        return None
    n = len(value)
    if (
        (n == 19 or (n == 26 and value[19] == "."))
        and value[10] in "T "
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
    ):
        # Fast path for the common full-seconds shape (ingest normalises row timestamps to
        # it). fromisoformat also takes zones and other shapes: those fall through to the rule.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            return moment
    m = _TS.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        return datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s or 0), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None


def seconds(moment: datetime) -> float:
    """Wall-clock seconds since 1970 of a naive local time (latencies are wall-clock gaps)."""
    return (moment - _EPOCH).total_seconds()


def iso(moment: datetime) -> str:
    """Fixed-width ISO text, so text order equals time order."""
    # Same text as isoformat(timespec="microseconds"), at a third of the cost.
    text = moment.isoformat()
    return text if moment.microsecond else text + ".000000"


def first(details: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first present, non-null key (DESIGN §3 "first key found wins")."""
    for key in keys:
        value = details.get(key)
        if value is not None:
            return value
    return None


def as_float(value: Any) -> tuple[float, bool]:
    """(number, ok): numbers via float; missing is 0 and fine, unparseable is 0 and not."""
    kind = type(value)
    # Exact-type checks first: JSON numbers are plain int and float (bool is not int here).
    if kind is float:
        return (value, True) if value - value == 0.0 else (0.0, False)  # NaN/inf: x - x != 0
    if kind is int:
        try:
            return float(value), True
        except OverflowError:
            return 0.0, False
    if value is None:
        return 0.0, True
    if isinstance(value, bool):
        return float(value), True
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return 0.0, False
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0, True
        try:
            number = float(text)
        except ValueError:
            return 0.0, False
    else:
        return 0.0, False
    if math.isnan(number) or math.isinf(number):
        return 0.0, False
    return number, True


def as_count(value: Any) -> tuple[int, bool]:
    """Counts are numbers truncated to integers (beyond ±2**53 they are not counts: 0)."""
    if type(value) is int and -_MAX_COUNT <= value <= _MAX_COUNT:
        return value, True
    number, ok = as_float(value)
    if not -_MAX_COUNT <= number <= _MAX_COUNT:
        # SQLite holds 64-bit integers: a bigger count would fail the whole batch.
        return 0, False
    return int(number), ok


def as_bool(value: Any) -> bool:
    """True for JSON true, non-zero numbers and "1", "true", "t", "yes", "y" in any case."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def as_text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def as_date(value: Any) -> str:
    """A shipping date as ``YYYY-MM-DD`` (from YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD…) or ""."""
    if value is None:
        return ""
    m = _DATE.match(as_text(value))
    if not m:
        return ""
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return ""
