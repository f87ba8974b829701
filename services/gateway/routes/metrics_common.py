"""Helpers shared by the metrics REST and UI routes: asking the analyzer, parsing selectors."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, ValidationException

from services.analyzer.history.rpc import MAX_TS
from services.core.bus import RpcError
from services.gateway.state import gateway_state

RANGES = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


async def ask_analyzer(
    request: Request[Any, Any, Any], method: str, payload: Any = None, timeout: float = 10.0
) -> Any:
    """Ask the analyzer; its 400s become 400s, an absent analyzer a 503 (never a trace)."""
    try:
        return await gateway_state(request).ask("analyzer", method, payload or {}, timeout=timeout)
    except RpcError as exc:
        status = 400 if exc.code == 400 else 502
        raise HTTPException(status_code=status, detail=exc.description) from None
    except Exception as exc:  # no responders, timeout, no connection
        raise HTTPException(
            status_code=503, detail=f"analyzer unavailable ({type(exc).__name__})"
        ) from None


def parse_duration(value: str | None, field: str, default: float) -> float:
    """``1h``, ``24h``, ``7d``, ``30d``, ``90m`` or plain seconds."""
    if value in (None, ""):
        return default
    text = str(value).strip().lower()
    if text in RANGES:
        return RANGES[text]
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise HTTPException(
            status_code=400, detail=f"{field}: expected e.g. 1h, 24h, 7d, 30d or seconds"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_TS:
        raise _bad_parameter(field, f"at most {MAX_TS:.0f} seconds")
    return seconds


def _bad_parameter(name: str, message: str) -> ValidationException:
    """400 problem+json naming the query parameter."""
    return ValidationException(
        detail=f"parameter '{name}': {message}", extra=[{"key": name, "message": message}]
    )


def parse_labels(values: list[str] | None) -> dict[str, str]:
    """``label=key=value`` query parameters (repeatable) into a dict."""
    labels: dict[str, str] = {}
    for item in values or []:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise HTTPException(status_code=400, detail=f"label: expected key=value, got {item!r}")
        labels[key] = val
    return labels


def selector(
    *,
    series_id: int | None = None,
    name: str | None = None,
    host: str | None = None,
    group: str | None = None,
    label: list[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    range_: str | None = None,
    max_points: int | None = None,
    tier: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The analyzer's Selector payload from query parameters (only what was given)."""
    for key, when in (("start", start), ("end", end)):
        # Unix seconds SQLite can hold in milliseconds (NaN fails both comparisons).
        if when is not None and not 0 <= when <= MAX_TS:
            raise _bad_parameter(key, f"expected Unix seconds from 0 to {MAX_TS:.0f}")
    if series_id is not None and not 0 <= series_id < 2**63:
        raise _bad_parameter("series_id", "expected a series id (0 or more)")
    out: dict[str, Any] = {"range_s": parse_duration(range_, "range", 3600.0)}
    for key, value in (
        ("series_id", series_id),
        ("name", name),
        ("host", host),
        ("group", group),
        ("start", start),
        ("end", end),
        ("max_points", max_points),
        ("tier", tier),
        ("limit", limit),
    ):
        if value not in (None, ""):
            out[key] = value
    labels = parse_labels(label)
    if labels:
        out["labels"] = labels
    return out
