"""Work analytics: KPI refresh after +100 rows vs a pandas recompute, durable backfill of 1M
rows vs pandas reading and analysing the same files, append-to-KpiUpdate latency on NATS and
append-to-browser latency (watched file → SSE client, in bench/work_browser.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from bench.common import Figure, percentile
from bench.work_browser import browser_latency
from services.analyzer.work import queries
from services.analyzer.work.component import DURABLE, WorkAnalytics
from services.analyzer.work.filters import WorkFilter
from services.analyzer.work.store import open_engine
from services.analyzer.work.writer import WorkWriter
from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from services.core.config.analyzer import AnalyzerSettings
from services.core.contracts import WorkBatch, WorkEvent
from services.core.gc_tuning import tune_for_throughput

PROCESSES = ("packing", "transfer", "inspection")
WORKERS = [f"w{i:02d}" for i in range(30)]
FIRST_DAY = date(2025, 1, 1)


def synthetic(rows: int, days: int = 365) -> list[WorkBatch]:
    """``rows`` work events: 30 workers over ``days`` days, one batch per worker-day file."""
    files = [
        (p, w, d) for d in range(days) for w in WORKERS for p in PROCESSES[: 1 + int(w[1:]) % 3]
    ]
    per_file = max(4, rows // len(files))
    out: list[WorkBatch] = []
    made = 0
    for process, worker, d in files:
        if made >= rows:
            break
        day = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time())
        t = day + timedelta(hours=6)
        events = []
        for line in range(2, 2 + per_file):
            t += timedelta(seconds=45 + (line * 7919) % 60)
            ts = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
            if line % 4 == 1:
                start = (t - timedelta(seconds=170)).strftime("%Y-%m-%d %H:%M:%S")
                details: dict[str, Any] = {
                    "start_time": start, "work_time": 150 + line % 40, "idle_time": line % 9,
                    "process_errors": int(line % 23 == 0), "had_error": line % 23 == 0,
                    "CLC": f"A{line % 7}", "item_name": "Widget", "WID": f"WO{d}",
                    "good_count": 58, "defective_count": line % 3, "scan_count": 60,
                }  # fmt: skip
                event = "TRAY_COMPLETE"
            elif line % 50 == 0:
                event, details = "SCAN_ERROR", {"code": "E1"}
            else:
                event, details = "SCAN_OK", {"barcode": f"B{d}-{worker}-{line}", "interval_sec": 3}
            events.append(WorkEvent(line=line, ts=ts, worker=worker, process=process,
                                    event=event, details=details))  # fmt: skip
        made += len(events)
        path = f"{process}/{worker}_{day:%Y%m%d}.csv"
        out.append(WorkBatch(source="bench", path=path, file_id=path, start=0, end=len(events),
                             process=process, worker=worker, events=events))  # fmt: skip
    return out


def write_csv(batches: list[WorkBatch], folder: Path) -> None:
    """The same events as CSV files (one per process and worker) for the pandas baseline."""
    by_file: dict[str, list[str]] = {}
    for b in batches:
        lines = by_file.setdefault(
            f"{b.process}_{b.worker}.csv", ["timestamp,worker,event,details"]
        )
        for e in b.events:
            details = json.dumps(e.details).replace('"', '""')
            lines.append(f'{e.ts},{e.worker},{e.event},"{details}"')
    for name, lines in by_file.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def pandas_sessions(frame: pd.DataFrame) -> pd.DataFrame:
    """Sessions with latency from raw rows whose details are parsed dicts (DESIGN §3)."""
    trays = frame[frame["event"] == "TRAY_COMPLETE"]
    d = pd.DataFrame(list(trays["details"]), index=trays.index)
    s = pd.DataFrame({
        "process": trays["process"], "worker": trays["worker"],
        "start": pd.to_datetime(d["start_time"], format="mixed", errors="coerce"),
        "end": pd.to_datetime(trays["timestamp"], format="ISO8601"),
        "work_time": pd.to_numeric(d["work_time"], errors="coerce").fillna(0),
        "had_error": d["had_error"].astype(bool), "errors": d["process_errors"],
    })  # fmt: skip
    s = s.dropna(subset=["start"]).sort_values(["process", "worker", "start", "end"])
    prev = s.groupby(["process", "worker"])["end"].shift(1)
    s["latency"] = (s["start"] - prev).dt.total_seconds().clip(lower=0).fillna(0)
    return s


def pandas_analyse(sessions: pd.DataFrame) -> dict[str, Any]:
    lat = sessions[sessions["latency"] <= 3600]
    per_worker = sessions.groupby("worker").agg(
        n=("work_time", "size"), wt=("work_time", "mean"), std=("work_time", "std"),
        fpy=("had_error", "mean"),
    )  # fmt: skip
    return {"trays": len(sessions), "avg_latency": lat["latency"].mean(),
            "workers": len(per_worker), "errors": int(sessions["errors"].sum())}  # fmt: skip


def pandas_read_and_analyse(folder: Path) -> float:
    started = time.perf_counter()
    frames = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path, encoding="utf-8")
        df["process"] = path.stem.split("_")[0]
        frames.append(df)
    frame = pd.concat(frames, ignore_index=True)
    frame["details"] = frame["details"].map(json.loads)
    pandas_analyse(pandas_sessions(frame))
    return time.perf_counter() - started


def refresh_figures(batches: list[WorkBatch], root: Path, quick: bool) -> list[Figure]:
    """+100 rows on the history: incremental apply + today's KPIs, vs pandas from scratch."""
    settings = AnalyzerSettings()
    writer = WorkWriter(open_engine(root / "refresh.sqlite"), settings)
    for i in range(0, len(batches), 200):
        writer.apply(batches[i : i + 200])
    frame = pd.DataFrame(
        [{"process": b.process, "worker": e.worker, "timestamp": e.ts, "event": e.event,
          "details": e.details} for b in batches for e in b.events]
    )  # fmt: skip
    last_day = max(b.path.rsplit("_", 1)[1][:8] for b in batches)
    day = f"{last_day[:4]}-{last_day[4:6]}-{last_day[6:]}"
    refresh: list[float] = []
    year: list[float] = []
    for k in range(5 if quick else 10):
        events = [WorkEvent(line=2 + j, ts=f"{day}T23:{k:02d}:{j % 60:02d}.000000", worker="w00",
                            process="packing", event="TRAY_COMPLETE" if j % 4 == 0 else "SCAN_OK",
                            details={"start_time": f"{day} 22:{k:02d}:00", "work_time": 100})
                  for j in range(100)]  # fmt: skip
        extra = WorkBatch(source="b", path=f"extra{k}", file_id=f"extra{k}", start=0, end=1,
                          process="packing", worker="w00", events=events)  # fmt: skip
        started = time.perf_counter()
        writer.apply([extra])
        with writer.engine.connect() as conn:
            queries.kpi_summary(conn, WorkFilter(process="packing", date_from=day, date_to=day),
                                settings)  # fmt: skip
        refresh.append(time.perf_counter() - started)
        started = time.perf_counter()
        with writer.engine.connect() as conn:
            queries.kpi_summary(conn, WorkFilter(process="all"), settings)
            queries.worker_table(conn, WorkFilter(process="all", as_of=day), settings)
        year.append(time.perf_counter() - started)
    started = time.perf_counter()
    pandas_analyse(pandas_sessions(frame))
    baseline = time.perf_counter() - started
    rows = sum(len(b.events) for b in batches)
    ms, base_ms = percentile(refresh, 50) * 1000, baseline * 1000
    return [
        Figure(f"KPI refresh after +100 rows on {rows:,} rows (p50)", ms, "ms",
               "pandas recompute from parsed rows", base_ms, "≥ 100× faster",
               base_ms / ms >= 100, f"{base_ms / ms:.0f}× faster"),
        Figure(f"year KPIs + worker table, 30 workers, {rows:,} rows (p50)",
               percentile(year, 50) * 1000, "ms", "pandas recompute from parsed rows", base_ms,
               "answers from maintained daily sums", None,
               f"{base_ms / (percentile(year, 50) * 1000):.0f}× faster"),
    ]  # fmt: skip


async def backfill_figures(batches: list[WorkBatch], root: Path) -> list[Figure]:
    """Durable backfill: batches in JetStream, a fresh analyzer consumes all of them."""
    rows = sum(len(b.events) for b in batches)
    broker = EmbeddedBroker(root / "broker", port=-1)
    await broker.start()
    try:
        bus = await Bus.connect(NatsSettings(url=broker.client_url), "bench")
        await bus.ensure_streams()
        pending = [bus.js.publish(contracts.work(b.process), bus.codec.encode(b),
                                  headers={"Nats-Msg-Id": b.file_id}) for b in batches]  # fmt: skip
        for i in range(0, len(pending), 500):
            await asyncio.gather(*pending[i : i + 500])
        # As the analyzer process sets itself up (services/analyzer/__main__.py); freezing
        # also takes the bench's own copy of the rows out of the collector's walk, as if the
        # analyzer ran in its own process.
        old_thresholds = tune_for_throughput()
        work = WorkAnalytics(root / "backfill", AnalyzerSettings())
        analyzer_bus = await Bus.connect(NatsSettings(url=broker.client_url), "analyzer")
        started, cpu_started = time.perf_counter(), time.process_time()
        load_before = os.getloadavg()[0]
        await work.start(analyzer_bus)
        progress = []
        while True:
            await asyncio.sleep(0.25)
            try:
                info = await bus.js.consumer_info("VIGIL_WORK", DURABLE)
            except Exception:
                continue
            progress.append(info.num_pending)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
        elapsed = time.perf_counter() - started
        # The analyzer runs in this process: its CPU time beside the wall time shows how much
        # of the wall time was spent waiting for a CPU shared with other work (load average).
        cpu = time.process_time() - cpu_started
        await work.close()
        await analyzer_bus.close()
        await bus.close()
        gc.set_threshold(*old_thresholds)
        gc.unfreeze()
    finally:
        await broker.stop()
    latency = await kpi_latency(root)
    csv_dir = root / "csv"
    csv_dir.mkdir()
    write_csv(batches, csv_dir)
    baseline = pandas_read_and_analyse(csv_dir)
    return [
        Figure(f"durable backfill of {rows:,} rows (JetStream → SQLite)", elapsed, "s",
               "pandas read + analyse of the same rows as CSV", baseline, "≤ 15 s", elapsed <= 15,
               f"{rows / elapsed:,.0f} rows/s; progress polled {len(progress)}×; analyzer CPU"
               f" {cpu:.1f} s; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}"),
        *latency,
    ]  # fmt: skip


async def kpi_latency(root: Path) -> list[Figure]:
    """Rows at 1,000 events/s: publish → KpiUpdate carrying them, vs publish → plain consumer."""
    broker = EmbeddedBroker(root / "broker2", port=-1)
    await broker.start()
    try:
        return await _kpi_latency(broker.client_url, root)
    finally:
        await broker.stop()


async def _kpi_latency(url: str, root: Path) -> list[Figure]:
    bus = await Bus.connect(NatsSettings(url=url), "bench")
    await bus.ensure_streams()
    work = WorkAnalytics(root / "latency", AnalyzerSettings())
    analyzer_bus = await Bus.connect(NatsSettings(url=url), "analyzer")
    await work.start(analyzer_bus)
    publisher = asyncio.create_task(work.publish_loop())
    today = date.today().isoformat()
    sent: list[tuple[int, float]] = []  # (cumulative events today, publish time) per batch
    covered = 0  # batches covered by a KpiUpdate so far
    got: list[float] = []  # per batch of 10 rows (so per row): publish → first update covering it
    newest: list[float] = []  # per update: its newest batch only (no coalescing wait)
    plain: list[float] = []
    await asyncio.sleep(0.5)

    async def on_kpi(msg: Any) -> None:
        nonlocal covered
        arrived = time.perf_counter()
        update = msgspec.json.decode(msg.data, type=contracts.KpiUpdate)
        count = int(update.values.get("events", -1))
        start = covered
        while covered < len(sent) and sent[covered][0] <= count:
            got.append(arrived - sent[covered][1])
            covered += 1
        if covered > start:
            newest.append(arrived - sent[covered - 1][1])

    async def on_work(msg: Any) -> None:
        batch = msgspec.json.decode(msg.data, type=WorkBatch)
        if batch.source == "latency":
            plain.append(time.perf_counter() - float(batch.host))

    await bus.nc.subscribe("vigil.kpi.packing", cb=on_kpi)
    await bus.nc.subscribe("vigil.work.packing", cb=on_work)
    total = 0
    for i in range(300):  # 3 s at 10 rows every 10 ms
        t0 = time.perf_counter()
        events = [
            WorkEvent(line=i * 10 + j + 2, ts=f"{today}T10:00:{j:02d}", worker="w",
                      process="packing", event="SCAN_OK", details={})
            for j in range(10)
        ]  # fmt: skip
        batch = WorkBatch(source="latency", host=repr(t0), path="lat", file_id="lat",
                          start=i, end=i + 1, process="packing", events=events)  # fmt: skip
        total += 10
        sent.append((total, t0))
        await bus.js.publish("vigil.work.packing", bus.codec.encode(batch))
        await asyncio.sleep(max(0.0, 0.01 - (time.perf_counter() - t0)))
    await asyncio.sleep(1.0)
    publisher.cancel()
    await work.close()
    await analyzer_bus.close()
    await bus.close()
    ms = 1000.0
    note = (
        f"every row: publish → the first KpiUpdate covering it ({len(got) * 10:,} of 3,000 "
        f"rows, {len(newest)} KpiUpdates: coalesced, at most one per 0.25 s); to NATS, not a "
        f"browser; each update's newest row only: p50 {percentile(newest, 50) * ms:.1f} ms, "
        f"p99 {percentile(newest, 99) * ms:.1f} ms. The issue's 10/50 ms target is for the "
        "live row feed (SSE rows), measured end to end below"
    )
    return [
        Figure("published batch → KpiUpdate at 1,000 events/s, per row (p50)",
               percentile(got, 50) * ms, "ms",
               "append → plain JetStream subscriber (p50)", percentile(plain, 50) * ms,
               "coalesced by design (≤ 1 per 0.25 s)", None, note),
        Figure("published batch → KpiUpdate at 1,000 events/s, per row (p99)",
               percentile(got, 99) * ms, "ms",
               "append → plain JetStream subscriber (p99)", percentile(plain, 99) * ms,
               "coalesced by design (≤ 1 per 0.25 s)", None),
    ]  # fmt: skip


async def run(quick: bool) -> list[Figure]:
    rows = 100_000 if quick else 1_000_000
    batches = synthetic(rows)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-work-") as tmp:
        root = Path(tmp)
        figures = refresh_figures(batches, root, quick)
        figures += await backfill_figures(batches, root)
        figures += await browser_latency(root, quick)
    return figures
