"""SSE: filters, heartbeats, Last-Event-ID resume from JetStream, the cap, slow clients."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.sse import ClientFilter, SseHub
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Parse an SSE byte stream into dicts (event, data, id, comment)."""
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                yield current
            current = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "":
            yield {"comment": value}
        else:
            current[field] = current[field] + "\n" + value if field in current else value


class Reader:
    """Reads one SSE response across several ``take`` calls."""

    def __init__(self, response: httpx.Response) -> None:
        self.events = sse_events(response)

    async def take(self, n: int, kinds: set[str]) -> list[dict[str, str]]:
        got: list[dict[str, str]] = []

        async def run() -> None:
            async for event in self.events:
                if event.get("event") in kinds or ("comment" in event and "comment" in kinds):
                    got.append(event)
                    if len(got) >= n:
                        return

        await asyncio.wait_for(run(), 10)
        return got


readers: weakref.WeakKeyDictionary[httpx.Response, Reader] = weakref.WeakKeyDictionary()


async def take(response: httpx.Response, n: int, kinds: set[str]) -> list[dict[str, str]]:
    reader = readers.get(response)
    if reader is None:
        reader = readers[response] = Reader(response)
    return await reader.take(n, kinds)


async def publish_kpi(bus: Bus, process: str, value: float) -> None:
    event = contracts.KpiUpdate(process=process, values={"events": value})
    await bus.publish(contracts.kpi(process), event)


async def test_filter_and_resume(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        bus = gw.service.bus
        viewer = await gw.client("viewer")
        url = "/api/v1/stream?family=kpi&target=packing"
        async with viewer.stream("GET", url) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            hello = await take(r, 1, {"hello"})
            assert hello[0]["id"].startswith("KPI:")
            await publish_kpi(bus, "transfer", 99)  # another target: filtered out
            alert = contracts.AlertEvent(
                fingerprint="f", rule="r", severity="critical", state="firing"
            )
            await bus.publish(contracts.alert("critical", "r"), alert)  # another family
            for v in (1, 2):
                await publish_kpi(bus, "packing", v)
            got = await take(r, 2, {"kpi", "alert"})
        assert [json.loads(e["data"])["values"]["events"] for e in got] == [1, 2]
        last_id = got[-1]["id"]
        # Missed while disconnected: must come back on resume, once each, in order.
        for v in (3, 4, 5):
            await publish_kpi(bus, "packing", v)
        async with viewer.stream("GET", url, headers={"Last-Event-ID": last_id}) as r:
            await take(r, 1, {"hello"})
            await publish_kpi(bus, "packing", 6)  # live after the replay
            got = await take(r, 4, {"kpi"})
        assert [json.loads(e["data"])["values"]["events"] for e in got] == [3, 4, 5, 6]
        assert len({e["id"] for e in got}) == 4
        # A client that saw only the hello event resumes from that position too.
        async with viewer.stream("GET", url) as r:
            hello_id = (await take(r, 1, {"hello"}))[0]["id"]
        await publish_kpi(bus, "packing", 7)
        async with viewer.stream("GET", url, headers={"Last-Event-ID": hello_id}) as r:
            got = await take(r, 1, {"kpi"})
        assert json.loads(got[0]["data"])["values"]["events"] == 7


async def test_severity_filter_heartbeat_and_cap(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        gateway={"port": free_port(), "sse_max_clients": 2, "sse_heartbeat_s": 0.2}
    )
    async with running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        url = "/api/v1/stream?family=alert&severity=critical"
        async with viewer.stream("GET", url) as r1, viewer.stream("GET", "/api/v1/stream") as r2:
            assert r2.status_code == 200
            refused = await viewer.get("/api/v1/stream")
            assert refused.status_code == 503
            assert refused.headers["content-type"].startswith("application/problem+json")
            for severity in ("warning", "critical"):
                event = contracts.AlertEvent(
                    fingerprint=severity, rule="disk", severity=severity, state="firing"
                )  # type: ignore[arg-type]
                await gw.service.bus.publish(contracts.alert(severity, "disk"), event)
            got = await take(r1, 1, {"alert"})
            assert json.loads(got[0]["data"])["severity"] == "critical"
            beats = await take(r1, 1, {"comment"})
            assert beats[0]["comment"] == "heartbeat"
        await wait_for(lambda: not gw.service.hub.clients)


async def test_slow_client_dropped_others_unaffected(bus: Bus) -> None:
    hub = SseHub(queue_size=8)
    await hub.start(bus)
    try:
        fast = hub.connect(ClientFilter(frozenset({"kpi"})))
        slow = hub.connect(ClientFilter(frozenset({"kpi"})))
        received: list[Any] = []

        async def consume() -> None:
            async for event in hub.events(fast, heartbeat_s=5):
                if event is not None:
                    received.append(event)

        task = asyncio.create_task(consume())
        for v in range(40):
            await publish_kpi(bus, "packing", v)
            await asyncio.sleep(0)  # let the fast reader keep up, as a browser would
        await wait_for(lambda: len(received) == 40)
        assert slow.dropped and slow not in hub.clients
        assert not fast.dropped and hub.dropped_clients == 1
        assert [json.loads(e.data)["values"]["events"] for e in received] == list(range(40))
        task.cancel()
    finally:
        await hub.stop()
