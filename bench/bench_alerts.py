"""Alerts: sample-to-AlertEvent latency (for = 0), evaluation throughput (1,000 rules × series)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import msgspec

from bench.common import Figure, percentile
from services.alerts.condition import parse_condition
from services.alerts.engine import AlertEngine, EngineOptions
from services.alerts.model import Rule
from services.alerts.rules import parse_rules_text
from services.alerts.service import AlertsService
from services.alerts.windows import SeriesWindow
from services.core import contracts
from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings, Settings

PROBE_RULE = "- name: probe\n  condition: 'probe.value > 0'\n  severity: info\n"


def _settings(root: Path, url: str) -> Settings:
    tree = {
        "data_dir": str(root / "data"),
        "node": "bench",
        "nats": {"url": url},
        "alerts": {"rules_dir": str(root / "rules"), "default_rules": False},
    }
    return msgspec.convert(tree, Settings)


def _batch(i: int, name: str = "probe.value") -> contracts.MetricBatch:
    sample = contracts.MetricSample(name=name, value=1.0, labels={"n": str(i)})
    return contracts.MetricBatch(host="bench", group="probe", ts=time.time(), samples=[sample])


async def _wait_bound(bus: Bus) -> None:
    for _ in range(500):
        try:
            await bus.js.consumer_info("VIGIL_METRIC", "alerts-metric")
            return
        except Exception:
            await asyncio.sleep(0.01)


async def _latencies(bus: Bus, subject: str, listen: str, n: int, name: str) -> list[float]:
    """Publish one batch at a time and time it until the first message on ``listen`` arrives."""
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on_msg(_msg: object) -> None:
        arrived.put_nowait(time.perf_counter())

    sub = await bus.nc.subscribe(listen, cb=on_msg)
    out: list[float] = []
    try:
        for i in range(n):
            started = time.perf_counter()
            await bus.publish(subject, _batch(i, name))
            out.append(await asyncio.wait_for(arrived.get(), 5.0) - started)
    finally:
        await sub.unsubscribe()
    return out


async def latency(n: int) -> tuple[list[float], list[float]]:
    """(AlertEvent latencies, bare transport latencies) in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "rules").mkdir()
        (root / "rules" / "probe.yaml").write_text(PROBE_RULE, encoding="utf-8")
        broker = EmbeddedBroker(root / "broker", port=-1)
        await broker.start()
        try:
            bus = await Bus.connect(NatsSettings(url=broker.client_url), "bench")
            await bus.ensure_streams()
            # Baseline: the same batch published and received with no evaluation in between.
            base = await _latencies(
                bus, "vigil.metric.bench.base", "vigil.metric.bench.base", n, "base.value"
            )
            async with AlertsService(_settings(root, broker.client_url)):
                await _wait_bound(bus)
                alert = await _latencies(
                    bus, contracts.metric("bench", "probe"), "vigil.alert.>", n, "probe.value"
                )
            await bus.close()
        finally:
            await broker.stop()
    return alert, base


def _rules(count: int) -> list[Rule]:
    text = "".join(
        f"- name: r{i}\n  condition: 'avg(bench.metric{{series=\"s{i}\"}}[1m]) > 1000'\n"
        for i in range(count)
    )
    parsed = parse_rules_text(text)
    assert not parsed.errors
    return parsed.rules


def engine_rate(rules: list[Rule], series: int, rounds: int) -> float:
    """Samples/s through the engine: every sample evaluates its rule over a 1 min window."""
    clock = [1_700_000_000.0]
    engine = AlertEngine(rules, EngineOptions(), lambda: clock[0])
    labels = [{"series": f"s{j}", "host": "h"} for j in range(series)]

    def one_round(k: int) -> None:
        clock[0] += 1.0
        ts = clock[0]
        for j in range(series):
            engine.observe_sample("bench.metric", labels[j], float((j + k) % 100), ts)
        engine.drain()

    one_round(0)  # warm-up: the first sample of a series binds it to its rules
    started = time.perf_counter()
    for k in range(1, rounds + 1):
        one_round(k)
    return series * rounds / (time.perf_counter() - started)


def naive_rate(rules: list[Rule], series: int, rounds: int) -> float:
    """Baseline: a plain evaluator that checks every rule's selector on every sample."""
    conditions = [r.condition for r in rules if r.condition]
    windows = [SeriesWindow(60.0) for _ in range(series)]
    labels = [{"series": f"s{j}", "host": "h"} for j in range(series)]
    now = 1_700_000_000.0
    started = time.perf_counter()
    for k in range(rounds):
        now += 1.0
        for j in range(series):
            windows[j].add(now, float((j + k) % 100))
            for cond in conditions:
                if cond.selector.matches("bench.metric", labels[j]):
                    value = windows[j].reduce(cond.reducer, cond.window_s, now)
                    if value is not None:
                        cond.holds(value)
    return series * rounds / (time.perf_counter() - started)


def _big_batch(k: int, series: int) -> contracts.MetricBatch:
    samples = [
        contracts.MetricSample(
            name="bench.metric", value=float((j + k) % 100), labels={"series": f"s{j}"}
        )
        for j in range(series)
    ]
    return contracts.MetricBatch(host="h", group="bench", ts=time.time(), samples=samples)


async def service_rate(rounds: int, series: int = 1000) -> tuple[float, float]:
    """(samples/s through NATS + the alerts service with 1,000 rules, samples/s of a bare
    durable consumer decoding the same batches)."""
    text = "".join(
        f"- name: r{i}\n  condition: 'avg(bench.metric{{series=\"s{i}\"}}[1m]) > 1000'\n"
        for i in range(series)
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "rules").mkdir()
        (root / "rules" / "bench.yaml").write_text(text, encoding="utf-8")
        broker = EmbeddedBroker(root / "broker", port=-1)
        await broker.start()
        try:
            bus = await Bus.connect(NatsSettings(url=broker.client_url), "bench")
            await bus.ensure_streams()
            batches = [_big_batch(k, series) for k in range(rounds)]
            # Baseline: a durable consumer that only decodes.
            seen = [0]
            done = asyncio.Event()
            total = rounds * series

            async def count(items: list[tuple[contracts.MetricBatch, object]]) -> None:
                seen[0] += sum(len(b.samples) for b, _ in items)
                if seen[0] >= total:
                    done.set()

            bus.consume(
                stream="VIGIL_METRIC", durable="bench-base", subjects="vigil.metric.base.>",
                kind=contracts.MetricBatch, handler=count, deliver_new=True, batch=512,
            )  # fmt: skip
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            for batch in batches:
                await bus.publish("vigil.metric.base.bench", batch)
            await asyncio.wait_for(done.wait(), 120)
            base = total / (time.perf_counter() - started)
            async with AlertsService(_settings(root, broker.client_url)) as svc:
                await _wait_bound(bus)
                # Warm-up batch (binds the 1,000 series to their rules), not timed.
                await bus.publish(contracts.metric("h", "bench"), _big_batch(-1, series))
                while svc.engine.samples_seen < series:  # type: ignore[attr-defined]
                    await asyncio.sleep(0.005)
                started = time.perf_counter()
                for batch in batches:
                    await bus.publish(contracts.metric("h", "bench"), batch)
                while svc.engine.samples_seen < total + series:  # type: ignore[attr-defined]
                    await asyncio.sleep(0.005)
                rate = total / (time.perf_counter() - started)
            await bus.close()
        finally:
            await broker.stop()
    return rate, base


def run(quick: bool) -> list[Figure]:
    n = 100 if quick else 1000
    alert, base = asyncio.run(latency(n))
    rules = _rules(1000)
    assert parse_condition("avg(x[1m]) > 1").window_s == 60
    rounds = 5 if quick else 60
    rate = engine_rate(rules, 1000, rounds)
    naive = naive_rate(rules, 1000, 1 if quick else 3)
    p99 = percentile(alert, 99) * 1000
    service_rounds = 10 if quick else 60
    svc_rate, svc_base = asyncio.run(service_rate(service_rounds))
    return [
        Figure(
            "sample → AlertEvent latency p50 (for = 0)",
            round(percentile(alert, 50) * 1000, 2),
            "ms",
            "JetStream publish → subscriber, no evaluation, p50",
            round(percentile(base, 50) * 1000, 2),
            note=f"{n} samples; Grafana evaluates on 10 s ticks, Prometheus every 1 min",
        ),
        Figure(
            "sample → AlertEvent latency p99 (for = 0)",
            round(p99, 2),
            "ms",
            "JetStream publish → subscriber, no evaluation, p99",
            round(percentile(base, 99) * 1000, 2),
            target="≤ 20 ms",
            met=p99 <= 20,
            note="durable consumer fetch, evaluation, SQLite queueing and durable publish",
        ),
        Figure(
            "evaluation throughput, 1,000 rules over 1,000 series (1 min avg windows)",
            round(rate),
            "samples/s",
            "naive evaluator: every rule's selector checked on every sample",
            round(naive),
            target="≥ 50,000 samples/s",
            met=rate >= 50_000,
            note=f"{rounds} rounds × 1,000 series after a warm-up round, in-process engine",
        ),
        Figure(
            "service throughput: NATS → alerts service, 1,000 rules, 1,000-sample batches",
            round(svc_rate),
            "samples/s",
            "durable consumer that only decodes the same batches",
            round(svc_base),
            target="≥ 50,000 samples/s",
            met=svc_rate >= 50_000,
            note=f"{service_rounds} batches; publish, fetch, decode, evaluate, ack",
        ),
    ]
