"""Answers to history queries; each opens its own read connection (WAL: reads beside the writer)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select

from services.analyzer.history import analysis, export
from services.analyzer.history.query import (
    Plan,
    bucket_raw,
    bucket_rollups,
    find_series,
    forced_plan,
    plan,
    range_points,
    raw_samples,
)
from services.analyzer.history.rpc import (
    AnomalyQuery,
    ExportQuery,
    ForecastQuery,
    PatternQuery,
    Selector,
    WindowQuery,
)
from services.analyzer.history.schema import PLUGIN_T
from services.analyzer.history.sketch import SketchCodec
from services.core.config.metrics import HistorySettings

_ONE_BUCKET = 10**12


class HistoryReader:
    def __init__(self, engine: Engine, settings: HistorySettings) -> None:
        self.engine = engine
        self.settings = settings
        self.codec = SketchCodec(settings.sketch_accuracy)

    # ------------------------------------------------------------ helpers

    def _series(self, conn: Connection, sel: Selector) -> list[dict[str, Any]]:
        ids = [sel.series_id] if sel.series_id else list(sel.ids)
        return find_series(
            conn,
            name=sel.name,
            host=sel.host,
            group=sel.group,
            labels=sel.labels,
            ids=ids or None,
            limit=sel.limit,
        )

    @staticmethod
    def _times(sel: Selector, now: float) -> tuple[float, float]:
        end = sel.end or now
        start = sel.start or end - sel.range_s
        if start >= end:
            raise ValueError(f"start ({start}) must be before end ({end})")
        return start, end

    def _plan(self, sel: Selector, start: float, end: float, now: float) -> Plan:
        points = sel.max_points or self.settings.max_points
        if sel.tier:
            return forced_plan(sel.tier, start, end, points)
        return plan(start, end, now, self.settings, points)

    # ------------------------------------------------------------ queries

    def series(self, sel: Selector) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {"series": self._series(conn, sel)}

    def hosts(self, _sel: Selector) -> dict[str, Any]:
        """Every host with its groups and series counts (for pickers)."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT host, grp, COUNT(*) FROM hist_series GROUP BY host, grp ORDER BY host, grp"
            ).fetchall()
        hosts: dict[str, dict[str, int]] = {}
        for host, grp, n in rows:
            hosts.setdefault(host, {})[grp] = n
        return {"hosts": [{"host": h, "groups": g} for h, g in hosts.items()]}

    def query(self, sel: Selector, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        start, end = self._times(sel, now)
        chosen = self._plan(sel, start, end, now)
        with self.engine.connect() as conn:
            series = self._series(conn, sel)
            for one in series:
                one["points"] = range_points(conn, one["id"], start, end, chosen, self.codec)
        return {
            "tier": chosen.tier,
            "step": chosen.step,
            "start": start,
            "end": end,
            "series": series,
        }

    def window(self, q: WindowQuery, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        start = now - q.window_s
        s = self.settings
        out = []
        with self.engine.connect() as conn:
            for one in self._series(conn, q):
                if q.window_s <= s.raw_retention_h * 3600:
                    ts, values = raw_samples(conn, one["id"], start, now)
                    points = bucket_raw(ts, values, _ONE_BUCKET)
                    rate = (
                        float((values[-1] - values[0]) / (ts[-1] - ts[0]))
                        if ts.size > 1 and ts[-1] > ts[0]
                        else None
                    )
                else:
                    tier = "1m" if q.window_s <= s.minute_retention_d * 86400 else "1h"
                    points = bucket_rollups(
                        conn, tier, one["id"], start, now, _ONE_BUCKET, self.codec
                    )
                    rate = None
                value: float | None = None
                if points["ts"]:
                    if q.reducer == "rate":
                        value = rate
                    elif q.reducer == "sum":
                        value = points["avg"][0] * points["count"][0]
                    else:
                        value = points[q.reducer][0]
                count = points["count"][0] if points["count"] else 0
                out.append({**one, "value": value, "count": count})
        return {"reducer": q.reducer, "window_s": q.window_s, "series": out}

    def summary(self, sel: Selector, now: float | None = None) -> dict[str, Any]:
        result = self.query(sel, now)
        for one in result["series"]:
            one["summary"] = analysis.summary(one.pop("points"), one["last_value"])
        return result

    def trend(self, sel: Selector, now: float | None = None) -> dict[str, Any]:
        result = self.query(sel, now)
        for one in result["series"]:
            pts = one.pop("points")
            one["trend"] = analysis.trend(
                np.asarray(pts["ts"], float), np.asarray(pts["avg"], float)
            )
        return result

    def _hourly(
        self, conn: Connection, sid: int, start: float, end: float
    ) -> tuple[np.ndarray, ...]:
        """(bucket start, sum, count) of the 1-hour rollups of one series in [start, end]."""
        rows = conn.exec_driver_sql(
            "SELECT ts, stats FROM hist_1h WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts",
            (sid, start, end),
        ).fetchall()
        if not rows:
            return np.empty(0), np.empty(0), np.empty(0)
        stats = np.frombuffer(b"".join(r[1] for r in rows), np.float64).reshape(-1, 8)
        return np.asarray([r[0] for r in rows], float), stats[:, 1].copy(), stats[:, 0].copy()

    def pattern(self, q: PatternQuery, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        start = now - q.days * 86400
        with self.engine.connect() as conn:
            series = self._series(conn, q)
            for one in series:
                ts, sums, counts = self._hourly(conn, one["id"], start, now)
                one["pattern"] = analysis.pattern(ts, sums, counts, q.tz)
        return {"days": q.days, "series": series}

    def anomalies(self, q: AnomalyQuery, now: float | None = None) -> dict[str, Any]:
        """Hourly points of the range, each against its seasonal baseline (1-hour tier)."""
        now = time.time() if now is None else now
        start, end = self._times(q, now)
        with self.engine.connect() as conn:
            series = self._series(conn, q)
            for one in series:
                ts, sums, counts = self._hourly(
                    conn, one["id"], start - q.history_days * 86400, end
                )
                values = sums / np.maximum(counts, 1)
                found = analysis.anomalies(ts, values, start, threshold=q.threshold)
                one["anomalies"] = found["anomalies"]
                one["baseline"] = {
                    "ts": [t for t in ts.tolist() if t >= start],
                    "expected": found["expected"],
                }
        return {"start": start, "end": end, "series": series}

    def forecast(self, q: ForecastQuery, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        sel_start = now - q.lookback_s
        chosen = plan(sel_start, now, now, self.settings, self.settings.max_points)
        with self.engine.connect() as conn:
            series = self._series(conn, q)
            for one in series:
                pts = range_points(conn, one["id"], sel_start, now, chosen, self.codec)
                one["forecast"] = analysis.forecast(
                    np.asarray(pts["ts"], float) + chosen.step / 2,
                    np.asarray(pts["avg"], float),
                    q.threshold,
                    now,
                    q.horizon_s,
                )
        return {"lookback_s": q.lookback_s, "series": series}

    def export(self, q: ExportQuery, now: float | None = None) -> dict[str, str]:
        result = self.query(q, now)
        meta = {k: result[k] for k in ("tier", "step", "start", "end")}
        return export.render(q.format, result["series"], meta)

    def plugins(self) -> dict[str, Any]:
        t = PLUGIN_T
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.plugin_id)).mappings().all()
        return {"plugins": [dict(r) for r in rows]}
