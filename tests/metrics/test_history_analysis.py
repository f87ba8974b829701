"""Trend, usage pattern, anomalies and forecast on synthetic series with known answers."""

from __future__ import annotations

import datetime as dt

import msgspec
import numpy as np
import pytest

from services.analyzer.history import analysis
from services.analyzer.history.rpc import AnomalyQuery, ForecastQuery, PatternQuery, Selector

HOUR = 3600.0


@pytest.mark.parametrize(
    ("rise_pct", "direction", "strength"),
    [
        (0.0, "stable", "weak"),
        (3.0, "stable", "weak"),
        (8.0, "up", "weak"),
        (15.0, "up", "moderate"),
        (30.0, "up", "strong"),
        (-15.0, "down", "moderate"),
        (-40.0, "down", "strong"),
    ],
)
def test_trend_direction_and_strength(rise_pct: float, direction: str, strength: str) -> None:
    ts = np.arange(0, 24 * HOUR, 300.0)
    base = 100.0
    # A line rising rise_pct % of its mean over the window, with small symmetric noise.
    slope = rise_pct / 100 * base / ts[-1]
    values = base - slope * ts[-1] / 2 + slope * ts + np.tile([0.3, -0.3], ts.size // 2)
    got = analysis.trend(ts, values)
    assert got["direction"] == direction
    assert got["strength"] == strength
    assert got["change_pct"] == pytest.approx(rise_pct, abs=0.5)


def test_pattern_finds_the_busy_hour_and_weekday() -> None:
    tz = "Asia/Seoul"
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()  # a Monday in Seoul too
    ts = start + np.arange(0, 28 * 86400, HOUR)
    local = [dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=9))) for t in ts]
    values = np.array(
        [
            10.0 + (50.0 if lt.hour == 14 else 0.0) + (5.0 if lt.weekday() == 2 else 0.0)
            for lt in local
        ]
    )
    got = analysis.pattern(ts, values, np.ones_like(values), tz)
    assert got["peak"] == {"weekday": 2, "hour": 14, "value": pytest.approx(65.0)}
    assert got["grid"][0][3] == pytest.approx(10.0)
    assert got["hour_avg"][14] == pytest.approx(60.0 + 5.0 / 7)
    assert got["low"]["value"] == pytest.approx(10.0)


def _seasonal(days: int, spike_at: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    ts = 1_700_006_400.0 - (1_700_006_400 % 86400) + np.arange(0, days * 86400, HOUR)
    rng = np.random.default_rng(11)
    values = 50 + 30 * np.sin(2 * np.pi * (ts % 86400) / 86400) + rng.normal(0, 1, ts.size)
    if spike_at is not None:
        values[np.argmin(np.abs(ts - spike_at))] += 40
    return ts, values


def test_anomalies_flag_the_spike_and_nothing_else() -> None:
    ts, values = _seasonal(21)
    spike = ts[-10]
    values[-10] += 40  # 40 above what this hour usually is
    found = analysis.anomalies(ts, values, since=ts[-24])
    assert [a["ts"] for a in found["anomalies"]] == [spike]
    assert found["anomalies"][0]["season"] == "week"
    assert found["anomalies"][0]["expected"] == pytest.approx(values[-10] - 40, abs=3)
    # The daily swing itself (±30) is not an anomaly: the baseline is seasonal.
    assert len(found["expected"]) == 24 and all(e is not None for e in found["expected"])


def test_anomalies_need_history() -> None:
    ts, values = _seasonal(2)
    found = analysis.anomalies(ts, values, since=ts[0])
    assert found["anomalies"] == [] and found["expected"][0] is None


def test_forecast_time_until_disk_full() -> None:
    now = 1_700_000_000.0
    ts = now - 7 * 86400 + np.arange(0, 7 * 86400, HOUR)
    values = 60 + 2.0 * (ts - ts[0]) / 86400  # +2 % a day, reaching 74 % now
    got = analysis.forecast(ts, values, 100.0, now, 90 * 86400)
    msgspec.json.encode(got)  # the reply must be plain JSON (no numpy scalars)
    current = 60 + 2.0 * (now - ts[0]) / 86400
    assert got["seconds_left"] == pytest.approx((100 - current) / 2.0 * 86400, rel=1e-6)
    assert got["slope_per_hour"] == pytest.approx(2.0 / 24)
    assert got["line"][-1][1] == pytest.approx(100.0)
    flat = analysis.forecast(ts, np.full(ts.size, 40.0), 100.0, now, 86400)
    assert flat["eta_ts"] is None and flat["seconds_left"] is None
    falling = analysis.forecast(ts, values[::-1].copy(), 100.0, now, 86400)
    assert falling["eta_ts"] is None


def test_summary() -> None:
    points = {"count": [2, 2], "avg": [1.0, 3.0], "min": [0.0, 2.0], "max": [2.0, 4.0]}
    assert analysis.summary(points, 4.0) == {
        "avg": 2.0,
        "min": 0.0,
        "max": 4.0,
        "current": 4.0,
        "count": 4,
    }


def test_analyses_through_the_history(history) -> None:  # type: ignore[no-untyped-def]
    ts, values = _seasonal(21)
    values[-3] += 60
    now = float(ts[-1]) + 60
    history.feed("disk.used_percent", ts.tolist(), values.tolist(), labels={"mount": "/"}, now=now)
    sel = {"name": "disk.used_percent", "labels": {"mount": "/"}}
    anomalies = history.reader.anomalies(AnomalyQuery(**sel, range_s=86400), now=now)
    assert [a["ts"] for a in anomalies["series"][0]["anomalies"]] == [ts[-3]]
    pattern = history.reader.pattern(PatternQuery(**sel, days=21, tz="UTC"), now=now)
    assert pattern["series"][0]["pattern"]["peak"]["hour"] in (5, 6, 7)  # sin peaks at 06:00 UTC
    ramp_ts = now - 3 * 86400 + np.arange(0, 3 * 86400, 600.0)
    history.feed(
        "disk.used_percent",
        ramp_ts.tolist(),
        (50 + (ramp_ts - ramp_ts[0]) / 86400).tolist(),
        labels={"mount": "/data"},
        now=now + 3 * 86400,
    )
    fc = history.reader.forecast(
        ForecastQuery(name="disk.used_percent", labels={"mount": "/data"}, lookback_s=3 * 86400),
        now=float(ramp_ts[-1]),
    )
    days_left = fc["series"][0]["forecast"]["seconds_left"] / 86400
    trend = history.reader.trend(
        Selector(name="disk.used_percent", labels={"mount": "/data"}, range_s=3 * 86400),
        now=float(ramp_ts[-1]),
    )
    # 50 → 53 % over the window: +3 / 51.5 ≈ 5.8 % of the mean.
    assert trend["series"][0]["trend"]["direction"] == "up"
    assert trend["series"][0]["trend"]["change_pct"] == pytest.approx(5.8, abs=0.2)
    assert days_left == pytest.approx(47, abs=1.0)  # 53 % now, +1 % a day
