"""Two analyzer instances share the metric history by host (partitions = 2): each sample is
stored once, in its host's owner; queries route to the owner or merge; work stays on p0."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.analyzer.service import AnalyzerService
from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.core.partition import api, host_owner
from services.gateway.partitions import ask_partitioned
from tests.conftest import wait_for

HOSTS = [f"pc{i}" for i in range(8)]  # crc32 puts four on each partition
METRICS = ("cpu.percent", "mem.percent")
POINTS = 3


@asynccontextmanager
async def two_analyzers(make_settings: Any) -> AsyncIterator[list[AnalyzerService]]:
    async with AsyncExitStack() as stack:
        svcs = []
        for k in (0, 1):
            settings: Settings = make_settings(analyzer={"partitions": 2, "partition": k})
            svcs.append(await stack.enter_async_context(AnalyzerService(settings)))
        yield svcs


def file_figures(path: Path) -> tuple[set[str], int, int]:
    """(hosts, series, raw samples) stored in one history file; integrity checked."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        hosts = {h for (h,) in conn.execute("SELECT DISTINCT host FROM hist_series")}
        series = conn.execute("SELECT COUNT(*) FROM hist_series").fetchone()[0]
        samples = conn.execute("SELECT COALESCE(SUM(n), 0) FROM hist_raw").fetchone()[0]
    finally:
        conn.close()
    return hosts, series, samples


async def ask(bus: Bus, method: str, payload: dict[str, Any]) -> Any:
    return await ask_partitioned(bus, "analyzer", method, payload, 2, 10.0)


async def test_two_analyzers_store_each_sample_once_and_answer_together(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    owners = {h: host_owner(h, 2) for h in HOSTS}
    assert sorted(owners.values()) == [0, 0, 0, 0, 1, 1, 1, 1]
    t0 = time.time() - 120
    async with two_analyzers(make_settings) as svcs:
        for host in HOSTS:
            for i in range(POINTS):
                samples = [contracts.MetricSample(name=m, value=10.0 + i) for m in METRICS]
                batch = contracts.MetricBatch(host=host, group="host", ts=t0 + i, samples=samples)
                await bus.publish(contracts.metric(host, "host"), batch)
        total = len(HOSTS) * len(METRICS) * POINTS
        await wait_for(
            lambda: sum(s.history.stats()["samples_accepted"] for s in svcs) >= total, 20
        )
        # Each instance stored exactly its own hosts' samples; the rest it acked unread.
        per_partition = total // 2
        assert [s.history.stats()["samples_accepted"] for s in svcs] == [per_partition] * 2
        for k in (0, 1):
            info = await bus.js.consumer_info("VIGIL_METRIC", f"analyzer-history-p{k}")
            assert info.num_pending == 0 and info.num_ack_pending == 0
        files = [file_figures(tmp_path / "data" / f"analyzer-history-p{k}.sqlite") for k in (0, 1)]
        assert not (tmp_path / "data" / "analyzer-history.sqlite").exists()
        for k, (hosts, series, samples) in enumerate(files):
            assert hosts == {h for h, o in owners.items() if o == k}
            assert (series, samples) == (4 * len(METRICS), per_partition)

        # Listings merge every partition.
        got = await ask(bus, "metric_hosts", {})
        assert [h["host"] for h in got["hosts"]] == sorted(HOSTS)
        listing = (await ask(bus, "metric_series", {"limit": 100}))["series"]
        assert len(listing) == 16 and len({s["id"] for s in listing}) == 16
        assert all(s["id"] % 2 == owners[s["host"]] for s in listing)  # the id names its owner
        stats = await ask(bus, "metric_stats", {})
        assert stats["samples_accepted"] == total and stats["series"] == 16
        everything = await ask(bus, "metric_query", {"name": "cpu.percent", "limit": 100})
        assert sorted(s["host"] for s in everything["series"]) == sorted(HOSTS)
        assert all(sum(s["points"]["count"]) == POINTS for s in everything["series"])
        assert len((await ask(bus, "metric_series", {"limit": 5}))["series"]) == 5

        # One series: the owner answers, by host or by (global) id.
        for host in ("pc1", "pc6"):
            by_host = await ask(bus, "metric_query", {"host": host, "name": "mem.percent"})
            assert [(s["host"], sum(s["points"]["count"])) for s in by_host["series"]] == [
                (host, POINTS)
            ]
            wanted = next(s for s in listing if s["host"] == host and s["name"] == "cpu.percent")
            by_id = await ask(bus, "metric_query", {"series_id": wanted["id"]})
            assert [(s["id"], s["host"], s["name"]) for s in by_id["series"]] == [
                (wanted["id"], host, "cpu.percent")
            ]
            direct = msgspec.json.decode(
                await bus.request(
                    api("analyzer", "metric_summary", owners[host], 2), {"series_id": wanted["id"]}
                )
            )
            assert direct["series"][0]["summary"]["count"] == POINTS
        pair = [next(s["id"] for s in listing if s["host"] == h) for h in ("pc0", "pc7")]
        both = await ask(bus, "metric_query", {"ids": pair})
        assert sorted(s["id"] for s in both["series"]) == sorted(pair)
        export = await ask(bus, "metric_export", {"name": "cpu.percent", "limit": 100})
        rows = [r.split(",") for r in export["body"].splitlines()]
        hosts_in_order = [r[0] for r in rows[1:]]  # one row per bucket, series by series
        assert rows[0][:2] == ["host", "name"] and hosts_in_order == sorted(hosts_in_order)
        assert set(hosts_in_order) == set(HOSTS)
        assert sum(int(r[4]) for r in rows[1:]) == len(HOSTS) * POINTS  # the count column

        # Plugins register everywhere and list once.
        await ask(bus, "metric_register_plugin", {"plugin_id": "p1", "plugin_name": "P"})
        plugins = (await ask(bus, "metric_plugins", {}))["plugins"]
        assert [p["plugin_id"] for p in plugins] == ["p1"]

        # Work analytics run on partition 0 only.
        assert svcs[0].work is not None and svcs[1].work is None
        today = await ask(bus, "work_today", {})
        assert isinstance(today, dict)
        with pytest.raises(Exception):  # noqa: B017 (no responders on p1)
            await bus.request(api("analyzer", "work_today", 1, 2), {}, timeout=1.0)
