"""Two alerts instances share the rules (partitions = 2): every alert has one owner, is
published and notified once, stored in one file; the gateway's merged list shows them all."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from services.alerts.rules import load_rules, owned_rules
from services.alerts.service import AlertsService
from services.core import contracts
from services.core.bus import Bus, RpcError
from services.core.config import Settings
from services.core.partition import owner
from services.gateway.partitions import ask_partitioned
from tests.alerts.helpers import DURABLES, STREAMS, FakeClock, capture, settle
from tests.alerts.http_sink import HttpSink
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway

METRICS = [f"load.m{i}" for i in range(8)]  # crc32 puts four on each partition
HOSTS = ("pc1", "pc2")


def rules_text(hook: str) -> str:
    rules = "".join(
        f"  - name: high-{i}\n    condition: '{m} > 50'\n    severity: warning\n"
        f"    notify: [hook]\n"
        for i, m in enumerate(METRICS)
    )
    return f"receivers:\n  - name: hook\n    kind: webhook\n    url: {hook}\nrules:\n{rules}"


def settings_for(make_settings: Any, rules: Path, k: int) -> Settings:
    section = {
        "rules_dir": str(rules), "default_rules": False, "tick_s": 0.05, "group_wait_s": 0,
        "partitions": 2, "partition": k,
    }  # fmt: skip
    settings: Settings = make_settings(alerts=section)
    return settings


@asynccontextmanager
async def two_instances(
    make_settings: Any, rules: Path, clock: FakeClock, bus: Bus
) -> AsyncIterator[list[AlertsService]]:
    async with AsyncExitStack() as stack:
        svcs = []
        for k in (0, 1):
            svc = AlertsService(settings_for(make_settings, rules, k), clock=clock)
            svcs.append(await stack.enter_async_context(svc))
        for k in (0, 1):
            for durable in DURABLES:  # consumers start at "now": wait until they exist

                async def bound(d: str = durable, p: int = k) -> bool:
                    try:
                        await bus.js.consumer_info(STREAMS[d], f"alerts-{d}-p{p}")
                        return True
                    except Exception:
                        return False

                await wait_for(bound)
        yield svcs


async def send(bus: Bus, host: str, name: str, value: float, ts: float) -> None:
    batch = contracts.MetricBatch(
        host=host, group="test", ts=ts, samples=[contracts.MetricSample(name=name, value=value)]
    )
    await bus.publish(contracts.metric(host, "test"), batch)


def stored(path: Path) -> dict[str, tuple[str, str]]:
    """fingerprint → (rule, state) of the alerts one instance's file holds."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT fingerprint, rule, state FROM alerts_current").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    return {fp: (rule, state) for fp, rule, state in rows}


async def test_two_instances_split_the_rules_and_notify_each_alert_once(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    clock = FakeClock()
    async with HttpSink() as sink:
        (rules_dir / "rules.yaml").write_text(rules_text(sink.url), encoding="utf-8")
        ruleset = load_rules(rules_dir, with_defaults=False)
        owners = {r.name: owner(r.condition.selector.name, 2) for r in ruleset.rules if r.condition}
        assert sorted(Counter(owners.values()).values()) == [4, 4]  # both partitions own rules
        async with (
            capture(bus) as seen,
            two_instances(make_settings, rules_dir, clock, bus) as svcs,
        ):
            assert [sorted(r.name for r in owned_rules(ruleset.rules, k, 2)) for k in (0, 1)] == [
                sorted(n for n, o in owners.items() if o == k) for k in (0, 1)
            ]
            assert [len(s.engine.rules) for s in svcs] == [4, 4]
            # Every rule fires on both hosts: 8 rules x 2 hosts = 16 alerts.
            sent = 0
            for host in HOSTS:
                for metric in METRICS:
                    await send(bus, host, metric, 99.0, clock())
                    sent += 1
            await wait_for(lambda: all(s.engine.samples_seen == sent for s in svcs))
            await seen.wait_state("firing", count=16)
            await wait_for(lambda: len(sink.received) >= 16)
            for svc in svcs:
                svc.engine.tick()
                await settle(svc)
            # Exactly once: one AlertEvent and one notification per alert, nothing more.
            fired = Counter(e.fingerprint for _, e in seen.events if e.state == "firing")
            assert len(fired) == 16 and set(fired.values()) == {1}
            notified = Counter(
                a["fingerprint"] for r in sink.received for a in json.loads(r.body)["alerts"]
            )
            assert notified == fired

            # Each alert is stored in its owner's file, and only there.
            files = [stored(tmp_path / "data" / f"alerts-p{k}.sqlite") for k in (0, 1)]
            assert not (tmp_path / "data" / "alerts.sqlite").exists()
            assert set(files[0]).isdisjoint(files[1])
            assert set(files[0]) | set(files[1]) == set(fired)
            for k in (0, 1):
                assert {rule for rule, _ in files[k].values()} == {
                    n for n, o in owners.items() if o == k
                }

            # The gateway's merged list shows all of them; nobody answers the plain subject.
            active = await ask_partitioned(bus, "alerts", "active", {}, 2, 5.0)
            assert sorted(a["fingerprint"] for a in active) == sorted(fired)
            with pytest.raises(Exception):  # noqa: B017 (no responders)
                await bus.request(contracts.api("alerts", "active"), {}, timeout=1.0)
            health = await bus.request(contracts.api("alerts", "health"), {}, timeout=2.0)
            assert json.loads(health)["service"] == "alerts"
            history = await ask_partitioned(bus, "alerts", "history", {"limit": 10}, 2, 5.0)
            assert len(history) == 10  # cut after the merge
            assert [h["ts"] for h in history] == sorted((h["ts"] for h in history), reverse=True)

            # An ack reaches the owner (the other partition does not know the fingerprint).
            fp = next(fp for fp, (rule, _) in files[1].items())
            acked = await ask_partitioned(bus, "alerts", "ack", {"fingerprint": fp}, 2, 5.0)
            assert acked["state"] == "acknowledged" and acked["fingerprint"] == fp
            with pytest.raises(RpcError) as info:
                await ask_partitioned(bus, "alerts", "ack", {"fingerprint": "nope"}, 2, 5.0)
            assert info.value.code == 400
            for svc in svcs:
                await settle(svc)
            assert stored(tmp_path / "data" / "alerts-p1.sqlite")[fp][1] == "acknowledged"
            assert fp not in stored(tmp_path / "data" / "alerts-p0.sqlite")

            # A silence applies on every partition under one id; unsilence ends it everywhere.
            made = await ask_partitioned(
                bus, "alerts", "silence", {"matchers": {"host": "pc1"}, "duration": "1h"}, 2, 5.0
            )
            assert [[s.id for s in svc.engine.silences] for svc in svcs] == [[made["id"]]] * 2
            listed = await ask_partitioned(bus, "alerts", "silences", {}, 2, 5.0)
            assert [s["id"] for s in listed] == [made["id"]]
            await ask_partitioned(bus, "alerts", "unsilence", {"id": made["id"]}, 2, 5.0)
            assert all(svc.engine.silences[0].ends_at <= clock() for svc in svcs)
            # Rules are listed once (every instance loads the whole set).
            listing = await ask_partitioned(bus, "alerts", "rules", {}, 2, 5.0)
            assert len(listing["rules"]) == 8

            # The same through a real gateway that reads the same partition count.
            gw_settings = make_settings(
                alerts={"partitions": 2, "default_rules": False}, gateway={"port": free_port()}
            )
            async with running_gateway(gw_settings) as gw:
                operator = await gw.client("operator")
                got = await operator.get("/api/v1/alerts")
                assert got.status_code == 200
                assert sorted(a["fingerprint"] for a in got.json()) == sorted(fired)
                other = next(fp for fp in files[0])
                acked = await operator.post(f"/api/v1/alerts/{other}/ack")
                assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
                missing = await operator.post("/api/v1/alerts/nope/ack")
                assert missing.status_code == 400
                prom = await operator.get("/metrics")
                for k in (0, 1):
                    assert f'vigil_service_up{{partition="{k}",service="alerts"}} 1' in prom.text


async def test_rules_on_one_metric_share_an_instance_so_critical_still_inhibits_warning(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    clock = FakeClock()
    async with HttpSink() as sink:
        (rules_dir / "rules.yaml").write_text(
            f"receivers:\n  - name: hook\n    kind: webhook\n    url: {sink.url}\n"
            "rules:\n"
            "  - name: temp-warn\n    condition: 'temp > 50'\n    severity: warning\n"
            "    notify: [hook]\n"
            "  - name: temp-crit\n    condition: 'temp > 90'\n    severity: critical\n"
            "    notify: [hook]\n",
            encoding="utf-8",
        )
        async with (
            capture(bus) as seen,
            two_instances(make_settings, rules_dir, clock, bus) as svcs,
        ):
            home = owner("temp", 2)
            assert sorted(svcs[home].engine.rules) == ["temp-crit", "temp-warn"]
            assert svcs[1 - home].engine.rules == {}
            await send(bus, "pc1", "temp", 95.0, clock())
            await seen.wait_state("firing", count=2)
            await wait_for(lambda: len(sink.received) >= 1)
            for svc in svcs:
                svc.engine.tick()
                await settle(svc)
            warn = next(a for a in svcs[home].engine.alerts.values() if a.rule == "temp-warn")
            assert warn.inhibited_by  # muted by the critical alert on the same instance
            notified = [a["rule"] for r in sink.received for a in json.loads(r.body)["alerts"]]
            assert notified == ["temp-crit"]
