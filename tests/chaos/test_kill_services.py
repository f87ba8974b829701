"""SIGKILL ingest, the analyzer, alerts and the broker at random moments during a sustained
ingest of work logs and metrics: afterwards the analyzer's counts equal the input exactly,
every alert transition is stored and published once, every notification reached the webhook
(exactly once after dropping repeats by delivery id), and every database is intact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from tests.alerts.http_sink import HttpSink
from tests.chaos.stack import (
    RULES,
    MetricAgent,
    ServiceProc,
    history_counts,
    raw_timestamps_unique,
    stream_events,
    transitions,
)
from tests.conftest import free_port

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("VIGIL_CHAOS_KILLS", "16"))
WORKERS = ("김민준", "이서연", "박지훈")
SERVICES = ("ingest", "analyzer", "alerts")


def _row(ts: datetime, worker: str, n: int) -> str:
    if n % 20 == 19:
        start = ts.strftime("%Y-%m-%d %H:%M:%S")
        details = f"start_time={start}|work_time=55|CLC=A1"
        return f"{ts:%Y-%m-%d %H:%M:%S},{worker},TRAY_COMPLETE,{details}\n"
    return f'{ts:%Y-%m-%d %H:%M:%S},{worker},SCAN_OK,"{{""barcode"": ""B{n}""}}"\n'


async def _write_logs(watch: Path, rng: random.Random, stop: asyncio.Event) -> int:
    """Append rows to three workers' logs in small bursts until ``stop``; returns the count."""
    today = datetime.now()
    files = {w: watch / f"포장실작업이벤트로그_{w}_{today:%Y%m%d}.csv" for w in WORKERS}
    for path in files.values():
        path.write_text("timestamp,worker,event,details\n", encoding="utf-8-sig")
    written = {w: 0 for w in WORKERS}
    while not stop.is_set():
        worker = rng.choice(WORKERS)
        burst = rng.randint(1, 40)
        with files[worker].open("a", encoding="utf-8") as fh:
            for _ in range(burst):
                fh.write(_row(datetime.now(), worker, written[worker]))
                written[worker] += 1
        await asyncio.sleep(rng.uniform(0.0, 0.02))
    return sum(written.values())


async def _analyzer_events(bus: Bus) -> int:
    try:
        raw = await bus.request(contracts.api("analyzer", "work_today"), {}, timeout=2.0)
    except Exception:
        return -1
    today = msgspec.json.decode(raw)
    return int(today.get("processes", {}).get("packing", {}).get("events", 0))


async def _wait(check: object, what: str, timeout_s: float = 120.0) -> None:
    """Poll ``check`` (an async callable returning bool) until true; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def _notifications(sink: HttpSink) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """(window, kind) → notifications received raw, and after dropping repeated delivery ids."""
    raw: Counter[tuple[str, str]] = Counter()
    unique: Counter[tuple[str, str]] = Counter()
    seen: set[str] = set()
    for got in list(sink.received):
        body = json.loads(got.body)
        assert got.headers["x-vigil-delivery-id"] == body["delivery_id"]
        first = body["delivery_id"] not in seen
        seen.add(body["delivery_id"])
        for alert in body["alerts"]:
            key = (alert["labels"]["window"], body["kind"])
            raw[key] += 1
            unique[key] += first
    return raw, unique


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "broker", port=free_port())
    await b.start()
    yield b
    await b.stop()


async def test_random_sigkills_lose_and_double_nothing(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    rng = random.Random(int(os.environ.get("VIGIL_CHAOS_SEED", "7")))
    watch = tmp_path / "watch"
    watch.mkdir()
    data = tmp_path / "data"
    rules = data / "alerts" / "rules"
    rules.mkdir(parents=True)
    config = tmp_path / "vigil.toml"
    config.write_text(
        f'[[ingest.sources]]\nname = "work"\npath = "{watch}"\n'
        # Each window is its own fingerprint: no repeat, grouping or flapping in the way.
        "[alerts]\ndefault_rules = false\ngroup_wait_s = 0\nflap_threshold = 1000\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_CONFIG=str(config),
        VIGIL_DATA_DIR=str(data),
        VIGIL_NATS_URL=broker.client_url,
        VIGIL_LOG_LEVEL="warning",
    )
    services = {n: ServiceProc(n, env, tmp_path) for n in SERVICES}
    kills: Counter[str] = Counter()
    async with HttpSink() as sink:
        (rules / "chaos.yaml").write_text(RULES.format(url=sink.url), encoding="utf-8")
        for svc in services.values():
            await svc.start()
        bus = await Bus.connect(NatsSettings(url=broker.client_url), "chaos")

        async def consuming() -> bool:
            # Alerts' consumer starts at "now": samples sent before it exists are not seen.
            for durable in ("alerts-metric", "analyzer-history"):
                try:
                    await bus.js.consumer_info("VIGIL_METRIC", durable)
                except Exception:
                    return False
            return True

        await _wait(consuming, "the metric consumers")
        stop = asyncio.Event()
        writer = asyncio.create_task(_write_logs(watch, rng, stop))
        agent = MetricAgent(bus)
        publishing = asyncio.create_task(agent.run(stop))
        try:
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.3, 1.2))
                victim = rng.choice([*SERVICES, "broker"])
                if victim == "broker":
                    await broker.stop(timeout=0.1)  # SIGTERM then SIGKILL almost at once
                    await asyncio.sleep(rng.uniform(0.1, 0.5))
                    await broker.start()
                else:
                    await services[victim].kill()
                    await asyncio.sleep(rng.uniform(0.05, 0.4))
                    await services[victim].start()
                kills[victim] += 1
            stop.set()
            expected = await writer
            await publishing
            windows = {str(w) for w in range(agent.windows)}
            want = Counter({(w, s): 1 for w in windows for s in ("firing", "resolved")})

            async def work_counted() -> bool:
                return await _analyzer_events(bus) == expected

            async def all_arrived() -> bool:
                _raw, unique = _notifications(sink)
                if not (+unique >= want and +transitions(data / "alerts.sqlite") >= want):
                    return False
                stored = history_counts(data / "analyzer-history.sqlite")
                return +stored >= agent.published and (await stream_events(bus))[1] >= want

            await _wait(work_counted, f"the analyzer to count {expected} rows")
            with contextlib.suppress(AssertionError):  # the asserts below say what is missing
                await _wait(all_arrived, "every sample, transition and notification", 60.0)
            await asyncio.sleep(2.0)  # stable: nothing late arrives to double a count
            assert await _analyzer_events(bus) == expected
            published_events, events = await stream_events(bus)
        finally:
            stop.set()
            writer.cancel()
            publishing.cancel()
            for svc in services.values():
                await svc.stop()
            await bus.close()
    history = history_counts(data / "analyzer-history.sqlite")
    raw, unique = _notifications(sink)
    print(
        f"chaos: {expected} rows, {sum(agent.published.values())} samples, "
        f"{len(windows)} alert windows, kills {dict(kills)}, "
        f"webhook posts {len(sink.received)} with {sum(raw.values()) - sum(unique.values())} "
        f"repeats, {published_events} alert events on the stream, "
        f"exits restarted { ({n: svc.exits for n, svc in services.items() if svc.exits}) }"
    )
    assert sum(kills.values()) == KILLS and expected > 0 and len(windows) >= 3
    stored = {k: history[k] for k in agent.published}
    assert stored == dict(agent.published), "samples per series: stored != published"
    assert raw_timestamps_unique(data / "analyzer-history.sqlite")
    kept = transitions(data / "alerts.sqlite")
    assert kept == want, f"alerts.sqlite: extra {kept - want}, missing {want - kept}"
    # Each transition once on vigil.alert.> (the msg id lets JetStream drop a repeat).
    assert events == want, f"stream: extra {events - want}, missing {want - events}"
    # At least once on the wire; exactly once after dropping repeated delivery ids.
    assert unique == want, f"webhook: extra {unique - want}, missing {want - unique}"
    assert all(raw[k] >= 1 for k in want)
    for db in sorted(data.glob("*.sqlite")):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), db
