"""Rollups and percentiles against numpy on random data; duplicates; restart continuity."""

from __future__ import annotations

import numpy as np
import pytest

from services.analyzer.history.rpc import Selector
from services.core.contracts import MetricBatch, MetricSample

NOW = 1_700_000_000.0  # a fixed "now": 2023-11-14 22:13:20 UTC
ACC = 0.01


def _within(sketch_value: float, data: np.ndarray, q: float) -> bool:
    """DDSketch's bound: within ±ACC (relative) of the value at rank q·(n−1)."""
    lo = np.quantile(data, q, method="lower")
    hi = np.quantile(data, q, method="higher")
    return lo * (1 - ACC) - 1e-9 <= sketch_value <= hi * (1 + ACC) + 1e-9


def test_minute_and_hour_rollups_match_numpy(history) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    start = NOW - 3 * 3600
    start -= start % 3600
    ts = start + np.arange(0, 3 * 3600, 2.0)  # one sample every 2 s for three hours
    values = rng.lognormal(mean=3.0, sigma=0.8, size=ts.size)
    history.feed("svc.latency_ms", ts.tolist(), values.tolist(), now=NOW)

    minute = history.reader.query(
        Selector(
            name="svc.latency_ms", start=start, end=start + 3 * 3600 - 1, tier="1m", max_points=1000
        ),
        now=NOW,
    )
    assert minute["tier"] == "1m" and minute["step"] == 60
    points = minute["series"][0]["points"]
    assert len(points["ts"]) == 180
    for i, bucket in enumerate(points["ts"]):
        mask = (ts >= bucket) & (ts < bucket + 60)
        chunk = values[mask]
        assert points["count"][i] == chunk.size == 30
        assert points["min"][i] == pytest.approx(chunk.min())
        assert points["max"][i] == pytest.approx(chunk.max())
        assert points["avg"][i] == pytest.approx(chunk.mean())
        assert points["last"][i] == pytest.approx(chunk[-1])
        for q, col in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            assert _within(points[col][i], chunk, q), (col, i)

    # Merging minute sketches into 30-minute points keeps the sketch's bound.
    merged = history.reader.query(
        Selector(
            name="svc.latency_ms", start=start, end=start + 3 * 3600 - 1, tier="1m", max_points=6
        ),
        now=NOW,
    )
    assert merged["step"] == 1800
    mp = merged["series"][0]["points"]
    assert len(mp["ts"]) == 6
    for i, bucket in enumerate(mp["ts"]):
        chunk = values[(ts >= bucket) & (ts < bucket + 1800)]
        assert mp["count"][i] == chunk.size
        for q, col in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            assert _within(mp[col][i], chunk, q), (col, i)

    hour = history.reader.query(
        Selector(name="svc.latency_ms", start=start, end=start + 3 * 3600 - 1, tier="1h"), now=NOW
    )
    hp = hour["series"][0]["points"]
    assert len(hp["ts"]) == 3
    for i, bucket in enumerate(hp["ts"]):
        chunk = values[(ts >= bucket) & (ts < bucket + 3600)]
        assert hp["count"][i] == chunk.size
        assert hp["avg"][i] == pytest.approx(chunk.mean())
        for q, col in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            assert _within(hp[col][i], chunk, q), (col, i)


def test_raw_tier_returns_exact_samples_and_negative_values(history) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    ts = NOW - 600 + np.arange(300) * 2.0
    values = rng.normal(0, 10, ts.size)  # negatives, zero-crossing
    history.feed("temp.delta", ts.tolist(), values.tolist(), now=NOW)
    result = history.reader.query(Selector(name="temp.delta", range_s=600), now=NOW)
    assert result["tier"] == "raw" and result["step"] == 1
    pts = result["series"][0]["points"]
    assert pts["count"] == [1] * 300
    assert np.allclose(pts["avg"], values)
    assert np.allclose(np.asarray(pts["ts"]), np.floor(ts))
    hour = history.reader.query(Selector(name="temp.delta", range_s=7200, tier="1h"), now=NOW)
    hp = hour["series"][0]["points"]
    assert sum(hp["count"]) == 300
    assert min(hp["min"]) == pytest.approx(values.min())
    assert max(hp["max"]) == pytest.approx(values.max())


def test_redelivered_and_bad_samples_are_not_stored(history) -> None:  # type: ignore[no-untyped-def]
    batch = MetricBatch(
        host="h1",
        group="test",
        ts=NOW - 10,
        samples=[
            MetricSample(name="ok.metric", value=1.0),
            MetricSample(name="Bad Name", value=2.0),
            MetricSample(name="ok.metric", value=3.0, labels={f"k{i}": "v" for i in range(20)}),
        ],
    )
    first = history.writer.write([batch], now=NOW)
    assert (first.accepted, first.rejected) == (1, 2)
    assert any("lowercase" in r for r in first.reasons)
    again = history.writer.write([batch], now=NOW)  # a JetStream redelivery
    assert again.accepted == 0 and again.duplicates == 1
    pts = history.reader.query(Selector(name="ok.metric", range_s=60), now=NOW)["series"][0][
        "points"
    ]
    assert pts["count"] == [1]


def test_restart_continues_the_open_buckets(make_history) -> None:  # type: ignore[no-untyped-def]
    first = make_history()
    start = NOW - (NOW % 3600) - 3600
    ts = [start + i for i in range(0, 1200, 10)]
    first.feed("c.v", ts[:60], [1.0] * 60, now=NOW)
    first.engine.dispose()
    second = make_history()  # a new process on the same file
    second.feed("c.v", ts, [2.0] * len(ts), now=NOW)  # the first 60 are redeliveries
    pts = second.reader.query(
        Selector(name="c.v", start=start, end=start + 3599, tier="1h"), now=NOW
    )
    hp = pts["series"][0]["points"]
    assert hp["count"] == [120]
    assert hp["avg"][0] == pytest.approx((60 * 1.0 + 60 * 2.0) / 120)
    assert second.writer.totals["duplicates"] == 60
