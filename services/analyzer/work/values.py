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


def parse_ts(value: Any) -> datetime | None:
    """Local time ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]``, no zone; None when it is not that."""
    if not isinstance(value, str):
        return None
    if len(value) in (19, 26) and value[10] == "T" and value[4] == "-" and value[7] == "-":
        # Fast path: ingest already normalised row timestamps to this shape.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
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
    return moment.isoformat(timespec="microseconds")


def first(details: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first present, non-null key (DESIGN §3 "first key found wins")."""
    for key in keys:
        value = details.get(key)
        if value is not None:
            return value
    return None


def as_float(value: Any) -> tuple[float, bool]:
    """(number, ok): numbers via float; missing is 0 and fine, unparseable is 0 and not."""
    if value is None:
        return 0.0, True
    if isinstance(value, bool):
        return float(value), True
    if isinstance(value, int | float):
        number = float(value)
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
    """Counts are numbers truncated to integers."""
    number, ok = as_float(value)
    return int(number), ok


def as_bool(value: Any) -> bool:
    """True for JSON true, non-zero numbers and "1", "true", "t", "yes", "y" in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def as_date(value: Any) -> str:
    """A shipping date as ``YYYY-MM-DD`` (from YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD…) or ""."""
    m = _DATE.match(as_text(value))
    if not m:
        return ""
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return ""
