"""Read side of the history: find series, choose a tier, bucket a range into ≤ max_points points.

Tier choice: the finest tier that still holds the range's start and whose
resolution is finer than the bucket width the range needs (range / max_points):
raw samples below 60 s buckets, 1-minute rollups below 1 h, else 1-hour rollups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import Connection, Table, select

from services.analyzer.history.schema import H1_T, M1_T, RAW_T, SERIES_T
from services.analyzer.history.sketch import QUANTILES, SketchCodec, new_sketch
from services.core.config.metrics import HistorySettings

RAW = RAW_T
SERIES = SERIES_T
ROLLUPS: dict[str, tuple[Table, int]] = {
    "1m": (M1_T, 60),
    "1h": (H1_T, 3600),
}
COLUMNS = ("ts", "count", "avg", "min", "max", "last", "p50", "p95", "p99")
_labels = msgspec.json.Decoder(dict[str, str])


@dataclass(frozen=True)
class Plan:
    tier: str  # raw | 1m | 1h
    step: int  # seconds per point


def plan(start: float, end: float, now: float, settings: HistorySettings, max_points: int) -> Plan:
    want = max(end - start, 1.0) / max(1, max_points)
    if start >= now - settings.raw_retention_h * 3600 and want < 60:
        return Plan("raw", max(1, math.ceil(want)))
    if start >= now - settings.minute_retention_d * 86400 and want < 3600:
        return Plan("1m", 60 * max(1, math.ceil(want / 60)))
    return Plan("1h", 3600 * max(1, math.ceil(want / 3600)))


def forced_plan(tier: str, start: float, end: float, max_points: int) -> Plan:
    width = {"raw": 1, "1m": 60, "1h": 3600}[tier]
    want = max(end - start, 1.0) / max(1, max_points)
    return Plan(tier, width * max(1, math.ceil(want / width)))


# ---------------------------------------------------------------------- series


def find_series(
    conn: Connection,
    *,
    name: str = "",
    host: str = "",
    group: str = "",
    labels: dict[str, str] | None = None,
    ids: list[int] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Series matching every given field; ``labels`` must all be present with those values."""
    c = SERIES.c
    stmt = select(
        c.id, c.host, c.grp, c.name, c.labels, c.first_ts, c.last_ts, c.last_value
    ).order_by(c.name, c.host, c.labels)
    if ids:
        stmt = stmt.where(c.id.in_(ids))
    if name:
        stmt = stmt.where(c.name == name)
    if host:
        stmt = stmt.where(c.host == host)
    if group:
        stmt = stmt.where(c.grp == group)
    wanted = labels or {}
    out = []
    for sid, h, grp, n, lab, first, last, value in conn.execute(stmt):
        decoded = _labels.decode(lab)
        if any(decoded.get(k) != v for k, v in wanted.items()):
            continue
        out.append(
            {
                "id": sid,
                "host": h,
                "group": grp,
                "name": n,
                "labels": decoded,
                "first_ts": first,
                "last_ts": last,
                "last_value": value,
            }
        )
        if len(out) >= limit:
            break
    return out


# ---------------------------------------------------------------------- raw


def raw_samples(
    conn: Connection, series_id: int, start: float, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps in seconds, values) of one series in [start, end], in time order."""
    c = RAW.c
    lo, hi = int(start * 1000), int(end * 1000)
    rows = conn.execute(
        select(c.start_ms, c.n, c.data)
        .where(c.series_id == series_id, c.end_ms >= lo, c.start_ms <= hi)
        .order_by(c.start_ms)
    ).all()
    if not rows:
        return np.empty(0), np.empty(0)
    ts_parts, value_parts = [], []
    for start_ms, n, data in rows:
        offsets = np.frombuffer(data, np.uint32, n)
        ts_parts.append((offsets.astype(np.int64) + start_ms) / 1000.0)
        value_parts.append(np.frombuffer(data, np.float64, n, 4 * n))
    ts = np.concatenate(ts_parts)
    values = np.concatenate(value_parts)
    keep = (ts >= start) & (ts <= end)
    return ts[keep], values[keep]


def _empty() -> dict[str, list[Any]]:
    return {col: [] for col in COLUMNS}


def bucket_raw(ts: np.ndarray, values: np.ndarray, step: int) -> dict[str, list[Any]]:
    out = _empty()
    if ts.size == 0:
        return out
    buckets = np.floor(ts / step) * step
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], ts.size]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        seg = values[a:b]
        qs = np.quantile(seg, QUANTILES, method="lower")
        out["ts"].append(float(buckets[a]))
        out["count"].append(b - a)
        out["avg"].append(float(seg.mean()))
        out["min"].append(float(seg.min()))
        out["max"].append(float(seg.max()))
        out["last"].append(float(seg[-1]))
        for col, q in zip(("p50", "p95", "p99"), qs.tolist(), strict=True):
            out[col].append(q)
    return out


# ---------------------------------------------------------------------- rollups


def bucket_rollups(
    conn: Connection,
    tier: str,
    series_id: int,
    start: float,
    end: float,
    step: int,
    codec: SketchCodec,
) -> dict[str, list[Any]]:
    table, width = ROLLUPS[tier]
    lo = int(start // width) * width
    merge = step > width
    # Driver-level SQL and packed stats: the hot path of long-range charts.
    sql = (
        f"SELECT ts, stats FROM {table.name} "
        "WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts"
    )
    if merge:
        sql = (
            f"SELECT r.ts, r.stats, k.sketch FROM {table.name} r JOIN {table.name}_sketch k "
            "ON k.series_id = r.series_id AND k.ts = r.ts "
            "WHERE r.series_id = ? AND r.ts >= ? AND r.ts <= ? ORDER BY r.ts"
        )
    rows = conn.exec_driver_sql(sql, (series_id, lo, end)).fetchall()
    out = _empty()
    if not rows:
        return out
    stats = np.frombuffer(b"".join(r[1] for r in rows), np.float64).reshape(-1, 8)
    if not merge:
        out["ts"] = [r[0] for r in rows]
        out["count"] = stats[:, 0].astype(np.int64).tolist()
        out["avg"] = (stats[:, 1] / stats[:, 0]).tolist()
        for i, name in enumerate(("min", "max", "last", "p50", "p95", "p99"), start=2):
            out[name] = _nan_to_none(stats[:, i])
        return out
    merged = [(r[0], *stats[i].tolist(), r[2]) for i, r in enumerate(rows)]
    group: list[Any] = []
    for row in merged:
        if group and (row[0] // step) != (group[0][0] // step):
            _merge_group(group, step, codec, out)
            group = []
        group.append(row)
    if group:
        _merge_group(group, step, codec, out)
    return out


def _nan_to_none(column: np.ndarray) -> list[float | None]:
    values: list[float | None] = column.tolist()
    if np.isnan(column).any():
        values = [None if v != v else v for v in values]
    return values


def _merge_group(rows: list[Any], step: int, codec: SketchCodec, out: dict[str, list[Any]]) -> None:
    count = int(sum(r[1] for r in rows))
    if len(rows) == 1:
        p50, p95, p99 = (None if v != v else v for v in rows[0][6:9])
    else:
        sketch = new_sketch(codec.accuracy)
        for row in rows:
            codec.merge_into(sketch, row[9])
        p50, p95, p99 = (sketch.get_quantile_value(q) for q in QUANTILES)
    values = (
        int(rows[0][0] // step) * step,
        count,
        sum(r[2] for r in rows) / count,
        min(r[3] for r in rows),
        max(r[4] for r in rows),
        rows[-1][5],
        p50,
        p95,
        p99,
    )
    for col, val in zip(COLUMNS, values, strict=True):
        out[col].append(val)


def range_points(
    conn: Connection,
    series_id: int,
    start: float,
    end: float,
    chosen: Plan,
    codec: SketchCodec,
) -> dict[str, list[Any]]:
    """The points of one series over [start, end] on the chosen tier and step."""
    if chosen.tier == "raw":
        ts, values = raw_samples(conn, series_id, start, end)
        return bucket_raw(ts, values, chosen.step)
    return bucket_rollups(conn, chosen.tier, series_id, start, end, chosen.step, codec)
