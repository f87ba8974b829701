"""Append-to-browser latency: a row appended to a watched work log → the KpiUpdate on SSE.

The whole path runs for real: a nats-server (random loopback port), the ingest file tailer
(watchfiles + the work parser + JetStream publish) in this process, the analyzer and the
gateway as child processes, and one raw HTTP/1.1 SSE client on
``/api/v1/stream?family=kpi`` authenticated with an API key.

Correlation: every KpiUpdate carries ``values["events"]``, today's cumulative event count of
the process. Row ``n`` (1-based, after the warm-up rows) is covered by the first KpiUpdate
whose count is ≥ ``n``; its latency is that update's arrival at the SSE client minus the
moment the row was written and flushed. Rows are written 10 per 10 ms, so the 10 rows of a
write share its timestamp. Every row is measured once, so the distribution includes the
analyzer's coalescing (at most one KpiUpdate per process per ``kpi_update_interval_s``).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import date
from pathlib import Path

from bench.bench_gateway import _env, _wait_clients, api_key, child, free_port, wait_http
from bench.bench_ingest import HEADER, settings, watchfiles_latency
from bench.common import Figure, percentile
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from services.ingest.tail import FileIngest

EVENTS_RE = re.compile(rb'"events":([0-9.eE+-]+)')
RATE = 1000  # rows/s
PER_WRITE = 10  # rows per write, one write every 10 ms


def work_row(day: str, i: int) -> str:
    s = 6 * 3600 + i % 50_000
    details = f'"{{""barcode"": ""B{i}""}}"'
    return f"{day} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d},kim,SCAN_OK,{details}\n"


async def _sse(port: int, key: str, seen: asyncio.Queue[tuple[float, int]]) -> None:
    """Arrival time and today's event count of every packing KpiUpdate on the stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/stream?family=kpi HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"SSE refused: {head[:100]!r}")
    try:
        while line := await reader.readline():
            if line.startswith(b"data:") and b'"packing"' in line:
                found = EVENTS_RE.search(line)
                if found:
                    seen.put_nowait((time.perf_counter(), int(float(found.group(1)))))
    finally:
        writer.close()


async def _measure(root: Path, url: str, port: int, key: str, seconds: float) -> dict:
    day = date.today()
    folder = root / "watched"
    folder.mkdir()
    path = folder / f"포장실작업이벤트로그_kim_{day:%Y%m%d}.csv"
    path.write_text(HEADER, encoding="utf-8")
    bus = await Bus.connect(NatsSettings(url=url), "bench-ingest")
    files = await FileIngest.open(settings(root / "ingest", url, folder), bus)
    seen: asyncio.Queue[tuple[float, int]] = asyncio.Queue()
    reader = asyncio.create_task(_sse(port, key, seen))
    written: list[float] = []  # written[n - 1]: when row n (counted after warm-up) was flushed
    latencies: list[float] = []
    freshest: list[float] = []  # per update: its newest row's latency (no coalescing wait)
    updates = 0
    try:
        while not files.tailers[0].backfilled.is_set():
            await asyncio.sleep(0.01)
        await _wait_clients(port, key, 1)
        with path.open("a", encoding="utf-8") as f:
            # Warm-up: rows until a KpiUpdate shows them (consumer bound, first query done).
            warm = 0
            deadline = time.monotonic() + 30
            while True:
                f.write("".join(work_row(day.isoformat(), warm + j) for j in range(PER_WRITE)))
                f.flush()
                warm += PER_WRITE
                try:
                    _, count = await asyncio.wait_for(seen.get(), 0.5)
                except TimeoutError:
                    count = 0
                if count >= warm or time.monotonic() > deadline:
                    break
            await asyncio.sleep(1.0)
            while not seen.empty():
                seen.get_nowait()
            base = warm  # events today before the measured rows
            first = time.perf_counter()
            k = 0
            while time.perf_counter() < first + seconds:
                rows = [
                    work_row(day.isoformat(), warm + len(written) + j) for j in range(PER_WRITE)
                ]
                f.write("".join(rows))
                f.flush()
                at = time.perf_counter()
                written.extend([at] * PER_WRITE)
                k += 1
                await asyncio.sleep(max(0.0, first + k * PER_WRITE / RATE - time.perf_counter()))
        covered = 0
        deadline = time.monotonic() + 10
        while covered < len(written) and time.monotonic() < deadline:
            try:
                arrived, count = await asyncio.wait_for(seen.get(), 1.0)
            except TimeoutError:
                continue
            updates += 1
            upto = min(len(written), count - base)
            latencies.extend(arrived - w for w in written[covered:upto])
            if upto > covered:
                freshest.append(arrived - written[upto - 1])
            covered = max(covered, upto)
    finally:
        reader.cancel()
        await files.close()
        await bus.close()
    return {"lat": latencies, "fresh": freshest, "rows": len(written), "updates": updates,
            "secs": seconds}  # fmt: skip


async def browser_latency(root: Path, quick: bool) -> list[Figure]:
    """Figures for append → SSE KpiUpdate at 1,000 rows/s, beside watchfiles' own latency."""
    seconds = 3.0 if quick else 10.0
    broker = EmbeddedBroker(root / "broker3", port=-1)
    url = await broker.start()
    try:
        bus = await Bus.connect(NatsSettings(url=url), "bench")
        await bus.ensure_streams()
        await bus.close()
        port = free_port()
        env = _env(root / "stack", url, port)
        with (
            child([sys.executable, "-m", "services.analyzer"], env),
            child([sys.executable, "-m", "services.gateway"], env) as gw,
        ):
            gw_url = f"http://127.0.0.1:{port}"
            await wait_http(gw_url, gw)
            key = await api_key(gw_url)
            got = await _measure(root, url, port, key, seconds)
    finally:
        await broker.stop()
    # The baseline in the same run: append → watchfiles' notification, its defaults.
    default = await watchfiles_latency(root / "wf-default", 50 if quick else 200)
    lat, ms = got["lat"], 1000.0
    p50, p99 = percentile(lat, 50) * ms, percentile(lat, 99) * ms
    note = (
        f"{len(lat):,} of {got['rows']:,} rows measured over {got['secs']:.0f} s via "
        f"{got['updates']} KpiUpdates; row n ↔ first update with events ≥ n; "
        "watched file → ingest → JetStream → analyzer → gateway → SSE client"
    )
    fresh = (
        f"each update's newest row: p50 {percentile(got['fresh'], 50) * ms:.1f} ms, "
        f"p99 {percentile(got['fresh'], 99) * ms:.1f} ms (the path without the wait for the "
        "analyzer's KpiUpdate interval)"
    )
    return [
        Figure("append → browser (SSE KpiUpdate) at 1,000 rows/s (p50)", p50, "ms",
               "watchfiles notification p50 (its defaults)", percentile(default, 50) * ms,
               "p50 ≤ 10 ms", p50 <= 10, note),
        Figure("append → browser (SSE KpiUpdate) at 1,000 rows/s (p99)", p99, "ms",
               "watchfiles notification p99 (its defaults)", percentile(default, 99) * ms,
               "p99 ≤ 50 ms", p99 <= 50 and len(lat) == got["rows"], fresh),
    ]  # fmt: skip
