"""Catching up with a backlog: the analyzer counts what it has yet to store, and says so.

The backlog is held in place by a real SQLite write lock on the analyzer's file (the test's
own connection in BEGIN IMMEDIATE), so it is seen without racing the analyzer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.work.helpers import event_batch
from tests.work.test_service import drained, running

BATCHES = 3000  # six fetches of 512: the backlog shrinks in steps


async def test_backlog_is_reported_while_catching_up_and_gone_after(
    bus: Bus, nats_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    updates: list[contracts.KpiUpdate] = []

    async def on_kpi(msg: Any) -> None:
        updates.append(bus.codec.decode_as(msg.data, contracts.KpiUpdate))

    await bus.nc.subscribe("vigil.kpi.>", cb=on_kpi)
    settings = make_settings(gateway={"port": free_port()})
    data = tmp_path / "analyzer"
    async with running(nats_url, data), running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        status = (await viewer.get("/api/v1/work/status")).json()
        assert status["backlog"] == 0 and status["eta_s"] is None
        assert "work-backlog" not in (await viewer.get("/ui/fragments/work/backlog")).text

        lock = sqlite3.connect(data / "analyzer-work.sqlite", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the analyzer's first commit waits on this
        try:
            # Quickly (the analyzer's commit gives up after its 5 s busy timeout; that is
            # handled, naked and redelivered, but not what this test looks at).
            for start in range(0, BATCHES, 500):
                await asyncio.gather(*(_publish(bus, i) for i in range(start, start + 500)))

            async def behind() -> Any:
                got = (await viewer.get("/api/v1/work/status")).json()
                return got if got["backlog"] >= BATCHES - 512 else None

            status = await wait_for(behind, timeout=20)
            assert status["backlog"] <= BATCHES
            banner = (await viewer.get("/ui/fragments/work/backlog")).text
            assert 'data-testid="work-backlog"' in banner
            assert f"{status['backlog']:,}" in banner
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        await drained(bus)
        await wait_for(lambda: updates and updates[-1].backlog == 0, timeout=10)
        assert any(u.backlog > 0 for u in updates)  # told while catching up
        status = (await viewer.get("/api/v1/work/status")).json()
        # Handled batches: a batch redelivered after a failed write counts again.
        assert status["backlog"] == 0 and status["batches"] >= BATCHES
        stored = sqlite3.connect(data / "analyzer-work.sqlite")
        assert stored.execute("SELECT COUNT(*) FROM work_scan").fetchone() == (BATCHES,)
        stored.close()
        assert "work-backlog" not in (await viewer.get("/ui/fragments/work/backlog")).text


async def _publish(bus: Bus, i: int) -> None:
    ts = f"2026-11-03 08:{i // 60 % 60:02d}:{i % 60:02d}"
    batch = event_batch("packing", "kim", ts, "SCAN_OK", {"barcode": f"B{i}"}, 2, path=f"f{i}.csv")
    await bus.publish(contracts.work("packing"), batch, msg_id=f"backlog-{i}")
