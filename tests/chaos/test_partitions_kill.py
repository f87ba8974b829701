"""Two alerts partitions as real processes, each SIGKILLed while alerts are due: afterwards
every alert was published once and notified once (repeats of one delivery id dropped, as a
receiver does), and is stored in its owner's file only."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.core import contracts
from services.core.bus import Bus
from services.core.partition import owner
from tests.alerts.http_sink import HttpSink
from tests.chaos.stack import ServiceProc
from tests.conftest import wait_for

METRICS = [f"load.m{i}" for i in range(8)]  # four rules on each partition
ROUNDS = 4

pytestmark = pytest.mark.slow


def rules(url: str) -> str:
    body = "".join(
        f"  - name: high-{i}\n    condition: '{m} > 50'\n    notify: [hook]\n"
        for i, m in enumerate(METRICS)
    )
    return (
        f"receivers:\n  - name: hook\n    kind: webhook\n    urls: ['{url}']\n"
        f"    retries: 20\n    backoff: 0.1s\nrules:\n{body}"
    )


async def bound(bus: Bus, k: int) -> bool:
    try:
        await bus.js.consumer_info("VIGIL_METRIC", f"alerts-metric-p{k}")
        return True
    except Exception:
        return False


async def firing_events(bus: Bus) -> Counter[str]:
    """Firing AlertEvents per fingerprint, as JetStream kept them."""
    info = await bus.js.stream_info("VIGIL_ALERT")
    out: Counter[str] = Counter()
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg("VIGIL_ALERT", seq)
        event = contracts.Codec().decode_as(msg.data or b"", contracts.AlertEvent)
        if event.state == "firing":
            out[event.fingerprint] += 1
    return out


def stored(path: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return dict(conn.execute("SELECT fingerprint, rule FROM alerts_current").fetchall())


async def test_killed_partitions_lose_and_double_nothing(
    tmp_path: Path, bus: Bus, nats_url: str, child_env: dict[str, str]
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    async with HttpSink() as sink:
        (rules_dir / "rules.yaml").write_text(rules(sink.url), encoding="utf-8")
        procs = []
        for k in (0, 1):
            env = {
                **child_env, "VIGIL_NATS_URL": nats_url, "VIGIL_DATA_DIR": str(tmp_path / "data"),
                "VIGIL_ALERTS_RULES_DIR": str(rules_dir), "VIGIL_ALERTS_DEFAULT_RULES": "false",
                "VIGIL_ALERTS_GROUP_WAIT_S": "0", "VIGIL_ALERTS_TICK_S": "0.1",
                "VIGIL_ALERTS_PARTITIONS": "2", "VIGIL_ALERTS_PARTITION": str(k),
            }  # fmt: skip
            procs.append(ServiceProc("alerts", env, tmp_path))
        try:
            for proc in procs:
                await proc.start()
            for k in (0, 1):
                await wait_for(lambda k=k: bound(bus, k), timeout=60, step=0.2)
            for r in range(ROUNDS):
                victim = procs[r % 2]
                host = f"round{r}"
                for i, metric in enumerate(METRICS):
                    if i == len(METRICS) // 2:
                        await victim.kill()  # half of this round's alerts are due on it
                    batch = contracts.MetricBatch(
                        host=host, group="t", ts=0.0,
                        samples=[contracts.MetricSample(name=metric, value=99.0)],
                    )  # fmt: skip
                    await bus.publish(contracts.metric(host, "t"), batch)
                await victim.start()
            expected = len(METRICS) * ROUNDS

            def notified() -> dict[str, set[str]]:
                """fingerprint → the delivery ids that notified it firing."""
                out: dict[str, set[str]] = {}
                for request in sink.received:
                    body: dict[str, Any] = json.loads(request.body)
                    if body.get("kind") != "firing":
                        continue
                    for alert in body["alerts"]:
                        out.setdefault(alert["fingerprint"], set()).add(body["delivery_id"])
                return out

            await wait_for(lambda: len(notified()) == expected, timeout=90, step=0.2)

            async def published() -> bool:
                return len(await firing_events(bus)) == expected

            await wait_for(published, timeout=30, step=0.2)
        finally:
            for proc in procs:
                await proc.stop()
        # Exactly once, after the processes stopped (nothing in flight any more).
        assert all(len(ids) == 1 for ids in notified().values())
        events = await firing_events(bus)
        assert set(events.values()) == {1} and set(events) == set(notified())
        files = [stored(tmp_path / "data" / f"alerts-p{k}.sqlite") for k in (0, 1)]
        assert set(files[0]).isdisjoint(files[1]) and len(files[0]) + len(files[1]) == expected
        for k in (0, 1):
            assert {owner(METRICS[int(r.split("-")[1])], 2) for r in files[k].values()} == {k}
