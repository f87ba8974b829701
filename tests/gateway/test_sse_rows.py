"""SSE ``rows`` family: a compact summary per stored WorkBatch, live, on resume, bad payloads."""

from __future__ import annotations

import json
from collections.abc import Callable

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway.test_sse import take
from tests.gateway_harness import running_gateway


def work_batch(process: str, first: int, n: int) -> contracts.WorkBatch:
    events = [
        contracts.WorkEvent(
            line=line,
            ts=f"2026-11-22T08:00:{line % 60:02d}",
            worker=f"w{line}",
            process=process,
            event="tray_done",
            details={"pcs": 60},
        )
        for line in range(first, first + n)
    ]
    return contracts.WorkBatch(
        source="floor",
        host="pc1",
        path=f"/logs/{process}.csv",
        file_id="f1",
        start=first * 10,
        end=(first + n) * 10,
        process=process,
        events=events,
    )


async def publish_work(bus: Bus, process: str, first: int, n: int) -> None:
    await bus.publish(contracts.work(process), work_batch(process, first, n))


async def test_rows_live_resume_and_bad_payload(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        bus = gw.service.bus
        viewer = await gw.client("viewer")
        url = "/api/v1/stream?family=rows&target=packing"
        async with viewer.stream("GET", url) as r:
            hello = await take(r, 1, {"hello"})
            assert hello[0]["id"].startswith("WORK:")
            await publish_work(bus, "transfer", 1, 3)  # another target: filtered out
            # Not a WorkBatch: skipped (and logged) by the rows family, the hub keeps going.
            await bus.nc.publish(contracts.work("packing"), b'{"schema": "nonsense"')
            await bus.nc.flush()
            await publish_work(bus, "packing", 1, 30)
            got = await take(r, 1, {"rows", "work"})
        assert got[0]["event"] == "rows"
        data = json.loads(got[0]["data"])
        assert {k: data[k] for k in ("process", "host", "source", "path", "count")} == {
            "process": "packing",
            "host": "pc1",
            "source": "floor",
            "path": "/logs/packing.csv",
            "count": 30,
        }
        assert (data["first_line"], data["last_line"]) == (1, 30)
        assert [row["line"] for row in data["rows"]] == list(range(11, 31))  # the last 20
        assert data["rows"][-1] == {
            "line": 30,
            "ts": "2026-11-22T08:00:30",
            "worker": "w30",
            "event": "tray_done",
        }
        assert isinstance(data["ts"], float)
        last_id = got[0]["id"]
        assert last_id.startswith("WORK:")

        # Missed while disconnected: replayed as rows (not work), in order, then live.
        await publish_work(bus, "packing", 31, 2)
        await publish_work(bus, "packing", 33, 1)
        async with viewer.stream("GET", url, headers={"Last-Event-ID": last_id}) as r:
            await take(r, 1, {"hello"})
            await publish_work(bus, "packing", 34, 5)
            got = await take(r, 3, {"rows", "work"})
        assert [e["event"] for e in got] == ["rows"] * 3
        assert [json.loads(e["data"])["first_line"] for e in got] == [31, 33, 34]
        assert len({e["id"] for e in got}) == 3


async def test_rows_and_work_together(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        bus = gw.service.bus
        viewer = await gw.client("viewer")
        async with viewer.stream("GET", "/api/v1/stream?family=work,rows") as r:
            await take(r, 1, {"hello"})
            await publish_work(bus, "packing", 1, 2)
            got = await take(r, 2, {"rows", "work"})
            assert [e["event"] for e in got] == ["work", "rows"]
            assert json.loads(got[0]["data"])["schema"] == "vigil.work_batch/1"
            assert json.loads(got[1]["data"])["count"] == 2
            # Both events of one batch share one id, on the last frame of the write.
            last_id = got[-1]["id"]
        await publish_work(bus, "packing", 3, 1)
        async with viewer.stream(
            "GET", "/api/v1/stream?family=work,rows", headers={"Last-Event-ID": last_id}
        ) as r:
            got = await take(r, 2, {"rows", "work"})
        assert [e["event"] for e in got] == ["work", "rows"]
        assert [json.loads(got[1]["data"])["first_line"]] == [3]
        # A client with no family filter gets full work events only, never rows.
        async with viewer.stream("GET", "/api/v1/stream") as r:
            await take(r, 1, {"hello"})
            await publish_work(bus, "packing", 4, 1)
            await publish_kpi_marker(bus)
            got = await take(r, 2, {"rows", "work", "kpi"})
        assert [e["event"] for e in got] == ["work", "kpi"]


async def publish_kpi_marker(bus: Bus) -> None:
    await bus.publish(contracts.kpi("marker"), contracts.KpiUpdate(process="marker"))
