"""``vigil demo``: the trays it writes have plausible work times and latencies at any rate."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.core.demo import DemoWriter


def trays(folder: Path) -> list[tuple[str, datetime, dict[str, str]]]:
    """(file name, end, details) of every TRAY_COMPLETE row, in the two forms the demo writes."""
    out = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["event"] != "TRAY_COMPLETE":
                    continue
                raw = row["details"]
                if raw.startswith("{"):
                    details = {k: str(v) for k, v in json.loads(raw).items()}
                else:
                    details = dict(part.split("=", 1) for part in raw.split("|"))
                end = datetime.fromisoformat(row["timestamp"])
                out.append((path.name, end, details))
    return out


@pytest.mark.parametrize("rate", [50.0, 5.0, 0.2])
def test_tray_times_plausible_at_any_rate(tmp_path: Path, rate: float) -> None:
    writer = DemoWriter(tmp_path, random.Random(7))
    now = datetime(2026, 11, 20, 9, 0, 0)
    for _ in range(3000):
        writer.step(now)
        now += timedelta(seconds=1 / rate)
    rows = trays(tmp_path)
    assert len(rows) > 30
    last_end: dict[str, datetime] = {}
    latencies = []
    for name, end, d in rows:
        work = float(d.get("work_time") or d["work_time_sec"])
        scans = int(d["scan_count"])
        # Scans 2–9 s apart plus 5–30 s of handling; rounding of the QR form allows ±1 s.
        assert 2 * scans + 4 <= work <= 9 * scans + 31, (name, scans, work)
        if name.startswith("포장실"):
            assert scans == 60  # the analyzer counts every packing tray as 60 pcs
            assert work >= 180  # so it is eligible for the best-time ranking
        start = datetime.fromisoformat(d["start_time"])
        assert start <= end
        if name in last_end:
            latencies.append((start - last_end[name]).total_seconds())
        last_end[name] = end
    # Start is never before the previous tray ended; the pause before a tray is 5–90 s, kept
    # as far as the wall time allows (at 50 rows/s a worker's trays are seconds apart).
    assert latencies and min(latencies) >= 0
    if rate <= 5:
        assert sum(1 for v in latencies if v > 0) >= 0.9 * len(latencies)
