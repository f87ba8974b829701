"""Metrics: collector CPU, tiered history queries, raw storage size, ingest rate.

Figures, each beside a baseline measured in the same run on the same machine:

- CPU of the host + process collectors at 1 s vs Glances refreshing at 1 s (target ≤ 1/5);
- a 30-day chart query over 50 series (hour tier) vs a GROUP BY over the raw samples
  (target ≤ 1/20 of its time);
- bytes per stored raw sample vs one SQLite row per sample (target ≤ 24);
- samples per second into the history (raw + 1m + 1h rollups with sketches) vs a plain
  SQLite executemany of the same (series, ts, value) rows.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from bench.common import Figure
from services.analyzer.history.db import open_engine
from services.analyzer.history.reader import HistoryReader
from services.analyzer.history.rpc import Selector
from services.analyzer.history.writer import HistoryWriter
from services.core.config.metrics import HistorySettings
from services.core.contracts import MetricBatch, MetricSample

COLLECTOR_LOOP = """
import sys, time
from services.ingest.collectors.host import HostCollector
from services.ingest.collectors.processes import ProcessCollector
from services.core.config.metrics import ProcessCollectorSettings
host, procs = HostCollector(), ProcessCollector(ProcessCollectorSettings(enabled=True, top=10))
print("ready", flush=True)
next_at = time.monotonic()
while True:
    host.collect(); procs.collect()
    next_at += 1.0
    time.sleep(max(0.0, next_at - time.monotonic()))
"""


def _cpu_of(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _measure(cmd: list[str], warmup_s: float, span_s: float, env: dict[str, str]) -> float:
    """CPU seconds per wall second of ``cmd`` after ``warmup_s`` (start-up excluded)."""
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        proc = psutil.Process(child.pid)
        time.sleep(warmup_s)
        if child.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited early with {child.returncode}")
        before, t0 = _cpu_of(proc), time.monotonic()
        time.sleep(span_s)
        after, t1 = _cpu_of(proc), time.monotonic()
        return (after - before) / (t1 - t0)
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)


def collector_cpu(quick: bool) -> Figure:
    span = 8.0 if quick else 20.0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    ours = _measure([sys.executable, "-c", COLLECTOR_LOOP], 3.0, span, env)
    glances = shutil.which("glances") or str(Path(sys.executable).parent / "glances")
    base: float | None = None
    note = f"CPU-seconds per second over {span:.0f} s after a warm-up; host + all processes"
    if Path(glances).exists():
        base = _measure([glances, "-q", "-t", "1", "--disable-webui"], 6.0, span, env)
    else:
        note += "; glances not installed (pip install 'vigil[bench]')"
    return Figure(
        name="collector CPU, host + processes at 1 s",
        value=ours * 100,
        unit="% of a core",
        baseline_name="Glances 4 at 1 s (-q)",
        baseline_value=base * 100 if base is not None else None,
        target="≤ 1/5 of Glances",
        met=(ours <= base / 5) if base else None,
        note=note,
    )


def _batches(series: int, ts: np.ndarray, rng: np.random.Generator) -> list[MetricBatch]:
    values = np.round(rng.uniform(0, 100, (ts.size, series)), 1)
    return [
        MetricBatch(
            host="bench",
            group="host",
            ts=float(t),
            samples=[
                MetricSample(name="bench.value", value=float(v), labels={"n": str(i)})
                for i, v in enumerate(row.tolist())
            ],
        )
        for t, row in zip(ts.tolist(), values, strict=True)
    ]


def _feed(writer: HistoryWriter, batches: list[MetricBatch], now: float, per: int = 200) -> None:
    for i in range(0, len(batches), per):
        writer.write(batches[i : i + per], now=now)


def chart_query(quick: bool, work: Path) -> Figure:
    series = 50
    step = 300.0 if quick else 60.0
    now = time.time()
    ts = now - 30 * 86400 + np.arange(0, 30 * 86400, step)
    rng = np.random.default_rng(1)
    engine = open_engine(work / "chart.sqlite")
    settings = HistorySettings()
    writer = HistoryWriter(engine, settings)
    batches = _batches(series, ts, rng)
    _feed(writer, batches, now)
    # The baseline keeps every raw sample for 30 days, as a plain table would.
    raw = sqlite3.connect(work / "raw30.sqlite")
    raw.execute("CREATE TABLE raw (series_id INTEGER, ts REAL, value REAL)")
    raw.execute("CREATE INDEX raw_ts ON raw (ts)")
    raw.executemany(
        "INSERT INTO raw VALUES (?, ?, ?)",
        ((i, b.ts, s.value) for b in batches for i, s in enumerate(b.samples)),
    )
    raw.commit()
    reader = HistoryReader(engine, settings)
    ids = [s.id for s in writer.series.values()]
    sel = Selector(ids=ids, range_s=30 * 86400, limit=series)
    runs = 3 if quick else 7
    ours, base = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = reader.query(sel)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows = raw.execute(
            "SELECT series_id, CAST(ts / 3600 AS INTEGER) AS h, COUNT(*), AVG(value), MIN(value),"
            " MAX(value) FROM raw WHERE ts >= ? GROUP BY series_id, h",
            (now - 30 * 86400,),
        ).fetchall()
        base.append(time.perf_counter() - t0)
    points = sum(len(s["points"]["ts"]) for s in result["series"])
    assert len(result["series"]) == series and rows
    raw.close()
    engine.dispose()
    ours_ms, base_ms = float(np.median(ours)) * 1000, float(np.median(base)) * 1000
    return Figure(
        name="30-day chart query, 50 series",
        value=ours_ms,
        unit="ms",
        baseline_name="GROUP BY hour over raw samples",
        baseline_value=base_ms,
        target="≤ 1/20 of the baseline",
        met=ours_ms <= base_ms / 20,
        note=f"tier {result['tier']}, {points} points with P50/P95/P99; {len(batches) * series:,}"
        f" raw rows ({step:.0f} s interval) in the baseline, which has no percentiles",
    )


def _table_bytes(path: Path, names: tuple[str, ...]) -> int:
    """Pages used by the named tables and indexes after a VACUUM (SQLite's dbstat table)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        marks = ",".join("?" * len(names))
        query = f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ({marks})"
        return int(con.execute(query, names).fetchone()[0])
    finally:
        con.close()


def raw_bytes(quick: bool, work: Path) -> tuple[Figure, Figure]:
    series = 50
    hours = 1 if quick else 4
    now = time.time()
    ts = now - hours * 3600 + np.arange(0, hours * 3600, 1.0)
    batches = _batches(series, ts, np.random.default_rng(2))
    n = len(batches) * series
    path = work / "raw.sqlite"
    engine = open_engine(path)
    writer = HistoryWriter(engine, HistorySettings())
    t0 = time.perf_counter()
    _feed(writer, batches, now, per=100)
    ingest_s = time.perf_counter() - t0
    engine.dispose()
    ours = _table_bytes(path, ("hist_raw", "sqlite_autoindex_hist_raw_1", "ix_hist_raw_end")) / n

    rows = [(i, b.ts, s.value) for b in batches for i, s in enumerate(b.samples)]
    plain = work / "plain.sqlite"
    con = sqlite3.connect(plain)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(
        "CREATE TABLE raw (series_id INTEGER, ts REAL, value REAL,"
        " PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
    )
    t0 = time.perf_counter()
    for i in range(0, len(rows), 100 * series):
        con.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows[i : i + 100 * series])
        con.commit()
    plain_s = time.perf_counter() - t0
    con.close()
    base = _table_bytes(plain, ("raw",)) / n
    size = Figure(
        name="bytes per stored raw sample",
        value=ours,
        unit="B",
        baseline_name="one SQLite row per sample (WITHOUT ROWID)",
        baseline_value=base,
        target="≤ 24 B",
        met=ours <= 24,
        note=f"{n:,} samples, {series} series at 1 s; chunks of 160 (uint32 ms offset + float64)",
    )
    rate = Figure(
        name="ingest into the history",
        value=n / ingest_s,
        unit="samples/s",
        baseline_name="SQLite executemany of the same rows",
        baseline_value=len(rows) / plain_s,
        note="ours also keeps 1-minute and 1-hour rollups with DDSketch percentiles; "
        "both commit every 100 batches of 50 samples",
    )
    return size, rate


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-metrics-") as tmp:
        work = Path(tmp)
        size, rate = raw_bytes(quick, work)
        return [collector_cpu(quick), chart_query(quick, work), size, rate]
