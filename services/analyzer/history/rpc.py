"""Payloads of the history's request/reply methods (see component.py for the list)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Tier = Literal["", "raw", "1m", "1h"]
Reducer = Literal["avg", "min", "max", "last", "sum", "count", "p50", "p95", "p99", "rate"]


class Selector(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which series and which time range. Empty fields match everything.

    Time: ``end`` (default now) and ``start`` (default end − ``range_s``), Unix seconds.
    """

    series_id: int = 0
    ids: list[int] = []
    name: str = ""
    host: str = ""
    group: str = ""
    labels: dict[str, str] = {}
    start: float = 0.0
    end: float = 0.0
    range_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    max_points: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    tier: Tier = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 50


class WindowQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    """``reducer`` over the last ``window_s`` seconds of each matching series."""

    window_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    reducer: Reducer = "avg"


class PatternQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    days: Annotated[float, msgspec.Meta(gt=0, le=400)] = 28.0
    tz: str = ""


class AnomalyQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    history_days: Annotated[float, msgspec.Meta(gt=0, le=400)] = 28.0
    threshold: Annotated[float, msgspec.Meta(gt=0)] = 4.0


class ForecastQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    threshold: float = 100.0
    lookback_s: Annotated[float, msgspec.Meta(gt=0)] = 7 * 86400.0
    horizon_s: Annotated[float, msgspec.Meta(gt=0)] = 90 * 86400.0


class ExportQuery(Selector, kw_only=True, forbid_unknown_fields=True):
    format: Literal["csv", "json"] = "csv"


class PluginRegistration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plugin_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
    plugin_name: Annotated[str, msgspec.Meta(max_length=256)] = ""
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    by: str = ""
