"""Payloads of the history's request/reply methods (see component.py for the list)."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Annotated, Literal

import msgspec

Tier = Literal["", "raw", "1m", "1h"]
# Bounds that keep every time in range of SQLite's 64-bit integers (milliseconds):
# the last second of year 9999, and a span no longer than that.
MAX_TS = 253_402_300_799.0
Time = Annotated[float, msgspec.Meta(ge=0, le=MAX_TS)]
Span = Annotated[float, msgspec.Meta(gt=0, le=MAX_TS)]
RowId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Reducer = Literal["avg", "min", "max", "last", "sum", "count", "p50", "p95", "p99", "rate"]


class Selector(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which series and which time range. Empty fields match everything.

    Time: ``end`` (default now) and ``start`` (default end − ``range_s``), Unix seconds.
    """

    series_id: RowId = 0
    ids: list[RowId] = []
    name: str = ""
    host: str = ""
    group: str = ""
    labels: dict[str, str] = {}
    start: Time = 0.0
    end: Time = 0.0
    range_s: Span = 3600.0
    max_points: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    tier: Tier = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 50


class WindowQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    """``reducer`` over the last ``window_s`` seconds of each matching series."""

    window_s: Span = 300.0
    reducer: Reducer = "avg"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: str) -> bool:
    """An IANA zone name (never a path: ZoneInfo would read files for ``../x``)."""
    return name in _time_zones()


class PatternQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    days: Annotated[float, msgspec.Meta(gt=0, le=400)] = 28.0
    tz: str = ""

    def __post_init__(self) -> None:
        if self.tz and not known_time_zone(self.tz):
            raise ValueError(f"tz: unknown time zone {self.tz[:64]!r} (e.g. Asia/Seoul, UTC)")


class AnomalyQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    history_days: Annotated[float, msgspec.Meta(gt=0, le=400)] = 28.0
    threshold: Annotated[float, msgspec.Meta(gt=0)] = 4.0


class ForecastQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    threshold: float = 100.0
    lookback_s: Span = 7 * 86400.0
    horizon_s: Span = 90 * 86400.0


class ExportQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    format: Literal["csv", "json"] = "csv"


class PluginRegistration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plugin_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
    plugin_name: Annotated[str, msgspec.Meta(max_length=256)] = ""
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    by: str = ""
