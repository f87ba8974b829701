"""Analyses over a series' points: trend, hour × weekday pattern, anomalies, forecast, summary.

Pure functions on numpy arrays (timestamps in Unix seconds), so they are tested
on synthetic series with known answers.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

STABLE_BELOW_PCT = 5.0


def _strength(change_pct: float) -> str:
    size = abs(change_pct)
    if size < 10:
        return "weak"
    return "moderate" if size <= 20 else "strong"


def trend(ts: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """Least-squares line over the window; change = (fitted end − fitted start) / |mean|.

    Direction: up or down when the change is at least 5 %, else stable. Strength
    (DESIGN §5): weak < 10 %, moderate 10–20 %, strong > 20 %.
    """
    if ts.size < 3:
        return {"direction": "stable", "strength": "weak", "change_pct": 0.0, "points": ts.size}
    hours = (ts - ts[0]) / 3600.0
    slope, intercept = np.polyfit(hours, values, 1)
    start, end = intercept, intercept + slope * hours[-1]
    base = abs(float(values.mean())) or float(np.abs(values).max()) or 1.0
    change = float((end - start) / base * 100.0)
    direction = "stable"
    if change >= STABLE_BELOW_PCT:
        direction = "up"
    elif change <= -STABLE_BELOW_PCT:
        direction = "down"
    return {
        "direction": direction,
        "strength": _strength(change),
        "change_pct": round(change, 2),
        "slope_per_hour": float(slope),
        "points": int(ts.size),
    }


def _local(ts: float, tz: ZoneInfo | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz) if tz else dt.datetime.fromtimestamp(ts)


def pattern(ts: np.ndarray, sums: np.ndarray, counts: np.ndarray, tz: str = "") -> dict[str, Any]:
    """Mean value per (weekday, hour of day) in local time; weekday 0 is Monday."""
    zone = ZoneInfo(tz) if tz else None
    total = np.zeros((7, 24))
    n = np.zeros((7, 24))
    for stamp, s, c in zip(ts.tolist(), sums.tolist(), counts.tolist(), strict=True):
        local = _local(stamp, zone)
        total[local.weekday(), local.hour] += s
        n[local.weekday(), local.hour] += c
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = total / n
        hours = total.sum(axis=0) / n.sum(axis=0)
        days = total.sum(axis=1) / n.sum(axis=1)

    def clean(a: np.ndarray) -> list[Any]:
        return [None if math.isnan(v) else round(float(v), 4) for v in a.tolist()]

    result: dict[str, Any] = {
        "grid": [clean(row) for row in grid],
        "hour_avg": clean(hours),
        "weekday_avg": clean(days),
        "peak": None,
        "low": None,
    }
    if np.isfinite(grid).any():
        masked = np.where(np.isfinite(grid), grid, np.nan)
        hi = np.unravel_index(np.nanargmax(masked), grid.shape)
        lo = np.unravel_index(np.nanargmin(masked), grid.shape)
        result["peak"] = {"weekday": int(hi[0]), "hour": int(hi[1]), "value": float(grid[hi])}
        result["low"] = {"weekday": int(lo[0]), "hour": int(lo[1]), "value": float(grid[lo])}
    return result


def anomalies(
    ts: np.ndarray,
    values: np.ndarray,
    since: float,
    *,
    threshold: float = 4.0,
    rel_floor: float = 0.05,
) -> dict[str, Any]:
    """Flag points at or after ``since`` that stray from their seasonal baseline.

    Baseline of a point: the median of the values at the same hour of the week in
    up to 4 earlier weeks (at least 2 needed), else at the same time of day in up
    to 7 earlier days (at least 3 needed). Score: (value − median) / scale, where
    scale = max(1.4826 × MAD, ``rel_floor`` × |median|, 1e-9). |score| > threshold
    is an anomaly. Points without enough history get no baseline.
    """
    by_ts = dict(zip(np.round(ts).astype(np.int64).tolist(), values.tolist(), strict=True))
    flagged: list[dict[str, Any]] = []
    expected: list[float | None] = []
    for stamp, value in zip(ts.tolist(), values.tolist(), strict=True):
        if stamp < since:
            continue
        key = round(stamp)
        refs = [by_ts[key - k * 7 * 86400] for k in range(1, 5) if key - k * 7 * 86400 in by_ts]
        season = "week"
        if len(refs) < 2:
            refs = [by_ts[key - k * 86400] for k in range(1, 8) if key - k * 86400 in by_ts]
            season = "day"
            if len(refs) < 3:
                expected.append(None)
                continue
        ref = np.asarray(refs)
        median = float(np.median(ref))
        mad = float(np.median(np.abs(ref - median)))
        scale = max(1.4826 * mad, rel_floor * abs(median), 1e-9)
        score = (value - median) / scale
        expected.append(median)
        if abs(score) > threshold:
            flagged.append(
                {
                    "ts": stamp,
                    "value": value,
                    "expected": median,
                    "score": round(score, 2),
                    "season": season,
                }
            )
    return {"anomalies": flagged, "expected": expected, "threshold": threshold}


def forecast(
    ts: np.ndarray, values: np.ndarray, threshold: float, now: float, horizon_s: float
) -> dict[str, Any]:
    """Linear fit; when and in how long the series reaches ``threshold`` (e.g. disk 100 %)."""
    out: dict[str, Any] = {
        "threshold": threshold,
        "eta_ts": None,
        "seconds_left": None,
        "slope_per_hour": 0.0,
        "line": [],
    }
    if ts.size < 3 or float(np.ptp(ts)) <= 0:
        return out
    fit = np.polyfit(ts - now, values, 1)
    slope, intercept = float(fit[0]), float(fit[1])  # plain floats: replies are JSON
    current = intercept
    out["slope_per_hour"] = float(slope * 3600)
    fitted = slope * (ts - now) + intercept
    residual = float(np.sum((values - fitted) ** 2))
    spread = float(np.sum((values - values.mean()) ** 2))
    out["r2"] = round(1 - residual / spread, 4) if spread > 0 else 1.0
    reaches = (threshold - current) / slope if slope else math.inf
    if current >= threshold:
        out["eta_ts"], out["seconds_left"] = now, 0.0
    elif math.isfinite(reaches) and reaches > 0:
        out["eta_ts"], out["seconds_left"] = now + reaches, float(reaches)
    end = now + min(horizon_s, reaches if math.isfinite(reaches) and reaches > 0 else horizon_s)
    out["line"] = [[now, current], [end, float(current + slope * (end - now))]]
    return out


def summary(points: dict[str, list[Any]], current: float | None) -> dict[str, Any]:
    """avg (count-weighted), min, max over the points, and the series' current value."""
    counts = points.get("count", [])
    if not counts:
        return {"avg": None, "min": None, "max": None, "current": current, "count": 0}
    total = sum(c * a for c, a in zip(counts, points["avg"], strict=True))
    n = sum(counts)
    return {
        "avg": total / n,
        "min": min(points["min"]),
        "max": max(points["max"]),
        "current": current,
        "count": n,
    }
