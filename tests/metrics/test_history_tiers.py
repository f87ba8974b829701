"""Tier choice, the ~1000-point cap, retention per tier, summary and export."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sqlalchemy import func, select

from services.analyzer.history.query import plan
from services.analyzer.history.rpc import ExportQuery, Selector, WindowQuery
from services.analyzer.history.schema import H1_T, M1_T, RAW_T
from services.core.config.metrics import HistorySettings

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("range_s", "tier", "step"),
    [
        (3600, "raw", 4),
        (6 * 3600, "raw", 22),
        (24 * 3600, "1m", 120),
        (7 * 86400, "1m", 660),
        (30 * 86400, "1h", 3600),
        (365 * 86400, "1h", 32400),
    ],
)
def test_tier_choice(range_s: float, tier: str, step: int) -> None:
    chosen = plan(NOW - range_s, NOW, NOW, HistorySettings(), 1000)
    assert (chosen.tier, chosen.step) == (tier, step)
    assert range_s / chosen.step <= 1000


def test_old_start_moves_to_a_coarser_tier() -> None:
    # Ten minutes, but two days ago: raw samples are gone, the minute tier has them.
    assert plan(NOW - 2 * 86400, NOW - 2 * 86400 + 600, NOW, HistorySettings(), 1000).tier == "1m"
    assert plan(NOW - 10 * 86400, NOW - 10 * 86400 + 600, NOW, HistorySettings(), 1000).tier == "1h"


def _count(history, table) -> int:  # type: ignore[no-untyped-def]
    with history.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_queries_return_at_most_max_points(history) -> None:  # type: ignore[no-untyped-def]
    ts = NOW - 3 * 86400 + np.arange(0, 3 * 86400, 30.0)
    history.feed("load.1m", ts.tolist(), np.sin(ts / 5000).tolist(), now=NOW)
    for range_s in (3600, 86400, 3 * 86400):
        result = history.reader.query(Selector(name="load.1m", range_s=range_s), now=NOW)
        n = len(result["series"][0]["points"]["ts"])
        assert 0 < n <= 1000, (range_s, n)


def test_retention_per_tier(make_history) -> None:  # type: ignore[no-untyped-def]
    history = make_history(raw_retention_h=1.0, minute_retention_d=1.0, hour_retention_d=30.0)
    # 40 days of one sample per 10 minutes, written as if they arrived live over time.
    ts = NOW - 40 * 86400 + np.arange(0, 40 * 86400, 600.0)
    for lo in range(0, ts.size, 144):
        part = ts[lo : lo + 144]
        history.feed("disk.used_percent", part.tolist(), [50.0] * part.size, now=float(part[-1]))
    hours = np.unique(ts // 3600 * 3600)
    assert _count(history, H1_T) == hours.size
    deleted = history.writer.retain(now=NOW)
    assert deleted["1h"] == int((hours < NOW - 30 * 86400).sum()) >= 10 * 24
    with history.engine.connect() as conn:
        oldest_hour = conn.execute(select(func.min(H1_T.c.ts))).scalar_one()
        oldest_minute = conn.execute(select(func.min(M1_T.c.ts))).scalar_one()
        raw_end = conn.execute(select(func.min(RAW_T.c.end_ms))).scalar_one()
    assert oldest_hour >= NOW - 30 * 86400
    assert oldest_minute >= NOW - 86400
    assert raw_end >= (NOW - 3600) * 1000
    assert _count(history, M1_T) <= 24 * 6 + 1
    # Old data still answers from the hour tier.
    old = history.reader.query(
        Selector(name="disk.used_percent", start=NOW - 20 * 86400, end=NOW - 19 * 86400), now=NOW
    )
    # 24 h not on an hour boundary touch 25 hour buckets.
    assert old["tier"] == "1h" and len(old["series"][0]["points"]["ts"]) == 25


def test_window_summary_and_export(history) -> None:  # type: ignore[no-untyped-def]
    ts = NOW - 600 + np.arange(0, 600, 5.0)
    values = np.arange(ts.size, dtype=float)
    history.feed("req.count", ts.tolist(), values.tolist(), labels={"target": "api"}, now=NOW)
    history.feed("req.count", ts.tolist(), (values * 0).tolist(), labels={"target": "db"}, now=NOW)

    win = history.reader.window(
        WindowQuery(name="req.count", labels={"target": "api"}, window_s=300, reducer="max"),
        now=NOW,
    )
    assert len(win["series"]) == 1
    recent = values[ts >= NOW - 300]
    assert win["series"][0]["value"] == recent.max()
    assert win["series"][0]["count"] == recent.size
    rate = history.reader.window(
        WindowQuery(name="req.count", labels={"target": "api"}, window_s=300, reducer="rate"),
        now=NOW,
    )
    assert rate["series"][0]["value"] == pytest.approx(1 / 5.0)

    summ = history.reader.query(Selector(name="req.count", range_s=600), now=NOW)
    assert {s["labels"]["target"] for s in summ["series"]} == {"api", "db"}

    body = history.reader.export(
        ExportQuery(name="req.count", labels={"target": "api"}, range_s=600, format="csv"), now=NOW
    )
    rows = list(csv.DictReader(io.StringIO(body["body"])))
    assert body["content_type"] == "text/csv"
    assert len(rows) == ts.size and rows[0]["labels"] == "target=api"
    assert float(rows[-1]["last"]) == values[-1]
    as_json = history.reader.export(
        ExportQuery(name="req.count", range_s=600, format="json"), now=NOW
    )
    doc = json.loads(as_json["body"])
    assert doc["tier"] == "raw" and len(doc["series"]) == 2
