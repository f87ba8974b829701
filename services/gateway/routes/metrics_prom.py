"""``/metrics`` in the Prometheus text format: collected metrics plus Vigil's own.

Collected series keep their name with ``.`` → ``_`` (``cpu.percent`` → ``cpu_percent``)
and labels plus ``host``; series silent for 10 minutes are left out. Vigil's own:
``vigil_service_up`` and each service's numeric health figures, JetStream
``vigil_stream_*`` (events in = last sequence) and ``vigil_consumer_*`` (events out =
delivered, queue depth = pending), dead letters per service, the gateway's SSE figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import defaultdict
from typing import Any

import msgspec

from services.core.partition import api
from services.gateway.partitions import partitions_of
from services.gateway.state import GatewayState

SERVICES = ("ingest", "analyzer", "alerts", "gateway")
STALE_S = 600.0
_BAD = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(name: str) -> str:
    clean = _BAD.sub("_", name)
    return clean if clean and not clean[0].isdigit() else f"_{clean}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Exposition:
    """Collects samples per metric family, then renders them grouped with TYPE lines."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[tuple[dict[str, str], float]]]] = {}

    def add(
        self, name: str, value: float, labels: dict[str, str], kind: str = "gauge", help: str = ""
    ) -> None:
        family = self.families.setdefault(metric_name(name), (kind, help, []))
        family[2].append(({metric_name(k): v for k, v in labels.items()}, float(value)))

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self.families):
            kind, help_text, samples = self.families[name]
            if help_text:
                lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                body = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{name}{{{body}}} {_fmt(value)}" if body else f"{name} {_fmt(value)}")
        return "\n".join(lines) + "\n"


async def _ask(state: GatewayState, service: str, method: str, payload: Any) -> Any:
    """Through ``state.ask``: a partitioned analyzer's series and counters come merged."""
    return await state.ask(service, method, payload, timeout=2.0)


async def _health(state: GatewayState, service: str, partition: int, partitions: int) -> Any:
    assert state.bus is not None
    subject = api(service, "health", partition, partitions)
    return msgspec.json.decode(await state.bus.request(subject, {}, timeout=2.0))


def _flatten(prefix: str, detail: dict[str, Any], out: dict[str, float]) -> None:
    for key, value in detail.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, int | float):  # bool is an int: 1.0 / 0.0
            out[name] = float(value)
        elif isinstance(value, dict):
            _flatten(name, value, out)


async def _collected(state: GatewayState, exp: Exposition) -> None:
    with contextlib.suppress(Exception):
        got = await _ask(state, "analyzer", "metric_series", {"limit": 5000})
        fresh = time.time() - STALE_S
        for series in got.get("series", []):
            if series["last_ts"] < fresh:
                continue
            labels = {**series["labels"], "host": series["host"]}
            exp.add(series["name"], series["last_value"], labels)


async def _services(state: GatewayState, exp: Exposition) -> None:
    async def one(service: str, k: int, n: int) -> None:
        # A partitioned service: one set of figures per instance, labelled with its partition.
        who = {"service": service, **({"partition": str(k)} if n > 1 else {})}
        try:
            health = await _health(state, service, k, n)
        except Exception:
            exp.add("vigil_service_up", 0, who, help="1 when the service answers")
            return
        exp.add("vigil_service_up", 1, who, help="1 when the service answers")
        exp.add("vigil_service_uptime_seconds", health.get("uptime_s", 0), who)
        figures: dict[str, float] = {}
        _flatten("", health.get("detail", {}), figures)
        own = {"partition": str(k)} if n > 1 else {}
        for key, value in figures.items():
            if key != "partition":
                exp.add(f"vigil_{service}_{key}", value, own)

    instances = [
        (s, k, n) for s in SERVICES for n in [partitions_of(state.settings, s)] for k in range(n)
    ]
    await asyncio.gather(*(one(*i) for i in instances))


async def _jetstream(state: GatewayState, exp: Exposition) -> None:
    assert state.bus is not None
    js = state.bus.js
    with contextlib.suppress(Exception):
        for info in await js.streams_info():
            stream = info.config.name or ""
            st = info.state
            exp.add("vigil_stream_messages", st.messages, {"stream": stream})
            exp.add("vigil_stream_bytes", st.bytes, {"stream": stream})
            exp.add(
                "vigil_stream_events_in_total",
                st.last_seq,
                {"stream": stream},
                "counter",
                "events stored in the stream since it was created",
            )
            for consumer in await js.consumers_info(stream):
                labels = {"stream": stream, "consumer": consumer.name or ""}
                exp.add(
                    "vigil_consumer_pending",
                    consumer.num_pending or 0,
                    labels,
                    help="queue depth: stored events not yet delivered",
                )
                exp.add("vigil_consumer_ack_pending", consumer.num_ack_pending or 0, labels)
                exp.add("vigil_consumer_redelivered", consumer.num_redelivered or 0, labels)
                delivered = consumer.delivered.consumer_seq if consumer.delivered else 0
                exp.add("vigil_consumer_events_out_total", delivered or 0, labels, "counter")
    with contextlib.suppress(Exception):
        dlq = await js.stream_info("VIGIL_DLQ", subjects_filter="vigil.dlq.>")
        per_service: dict[str, int] = defaultdict(int)
        for subject, count in (dlq.state.subjects or {}).items():
            per_service[subject.rsplit(".", 1)[-1]] += count
        for service in SERVICES:
            exp.add(
                "vigil_errors_dead_letters_total",
                per_service.get(service, 0),
                {"service": service},
                "counter",
                "messages a service could not handle (kept on vigil.dlq.<service>)",
            )


async def exposition(state: GatewayState) -> str:
    exp = Exposition()
    if state.bus is not None:
        await asyncio.gather(_collected(state, exp), _services(state, exp), _jetstream(state, exp))
        with contextlib.suppress(Exception):
            stats = await _ask(state, "analyzer", "metric_stats", {})
            for kind in ("accepted", "duplicate", "rejected"):
                exp.add(
                    "vigil_metric_samples_total",
                    stats.get(f"samples_{kind}", 0),
                    {"result": kind},
                    "counter",
                    "metric samples the history stored, skipped as duplicates, or rejected",
                )
    exp.add("vigil_gateway_sse_clients", len(state.hub.clients), {})
    exp.add("vigil_gateway_sse_events_total", state.hub.published, {}, "counter")
    return exp.render()
