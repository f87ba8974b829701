"""The targets component over a real NATS server: schedule, publishing, registry RPC, restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.core import contracts
from services.core.bus import Bus, RpcError
from services.core.config import Settings
from services.ingest.targets.component import TargetsComponent
from services.ingest.targets.store import DB_NAME
from tests.conftest import wait_for
from tests.targets.servers import FakeOpenAI, serve, slow, text_reply

KEY = "sk-live-very-secret-42"


async def _collect(bus: Bus, subject: str, into: list[Any], kind: type[Any]) -> None:
    async def on(msg: Any) -> None:
        into.append(msgspec.json.decode(msg.data, type=kind))

    await bus.nc.subscribe(subject, cb=on)


def _targets(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"targets": {"items": list(items), **extra}}


async def test_a_slow_target_never_delays_the_others(
    bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    routes = {"/fast": lambda h: text_reply("ok"), "/slow": slow(8, lambda h: text_reply("late"))}
    statuses: list[contracts.TargetStatus] = []
    metrics: list[contracts.MetricBatch] = []
    await _collect(bus, "vigil.target.*.status", statuses, contracts.TargetStatus)
    await _collect(bus, "vigil.metric.testhost.target", metrics, contracts.MetricBatch)
    with serve(routes) as server:
        settings = make_settings(
            ingest=_targets(
                {"id": "fast", "kind": "http", "url": f"{server.url}/fast", "interval_s": 1},
                {"id": "slow", "kind": "http", "url": f"{server.url}/slow", "interval_s": 1,
                 "timeout_s": 6},
            )
        )  # fmt: skip
        component = TargetsComponent(settings, bus)
        await component.start()
        try:
            await wait_for(lambda: sum(s.target_id == "fast" for s in statuses) >= 3, timeout=6)
            # Three rounds of the fast target went out while the slow one's first is pending.
            assert component.runners["slow"].checks == 0
        finally:
            await component.stop()
    fast = [s for s in statuses if s.target_id == "fast"]
    assert all(s.status == "up" and s.kind == "http" and s.host == "testhost" for s in fast)
    assert all(s.response_ms is not None and s.response_ms > 0 for s in fast)
    names = {s.name for batch in metrics for s in batch.samples}
    assert {"target.up", "http.response_ms", "http.status_code"} <= names
    assert all(batch.group == "target" for batch in metrics)


async def test_timeouts_keep_the_schedule(bus: Bus, make_settings: Callable[..., Settings]) -> None:
    routes = {"/slow": slow(5, lambda h: text_reply("late"))}
    statuses: list[contracts.TargetStatus] = []
    await _collect(bus, "vigil.target.hang.status", statuses, contracts.TargetStatus)
    with serve(routes) as server:
        item = {"id": "hang", "kind": "http", "url": f"{server.url}/slow", "interval_s": 1,
                "timeout_s": 0.3}  # fmt: skip
        component = TargetsComponent(make_settings(ingest=_targets(item)), bus)
        await component.start()
        try:
            await wait_for(lambda: len(statuses) >= 2, timeout=6)
        finally:
            await component.stop()
    assert all(s.status == "down" and s.detail == "timed out after 0.3 s" for s in statuses)


async def _ask(bus: Bus, method: str, payload: Any) -> Any:
    return msgspec.json.decode(await bus.request(contracts.api("ingest", method), payload))


async def test_registry_over_rpc_keeps_secrets_out_and_survives_restart(
    bus: Bus,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", KEY)
    fake = FakeOpenAI(KEY)
    with serve(fake.routes()) as server:
        settings = make_settings(
            ingest=_targets({"id": "site", "kind": "http", "url": f"{server.url}/nope",
                             "interval_s": 3600})
        )  # fmt: skip
        component = TargetsComponent(settings, bus)
        await component.start()
        await bus.serve("ingest", component.endpoints())
        spec = {
            "id": "llm",
            "kind": "model",
            "url": f"{server.url}/v1",
            "interval_s": 3600,
            "secret_env": "TEST_OPENAI_KEY",
            "completion": True,
        }
        created = await _ask(bus, "targets_put", {"spec": spec, "create": True})
        assert created["source"] == "api" and created["spec"]["secret_env"] == "TEST_OPENAI_KEY"
        tested = await _ask(bus, "targets_test", {"id": "llm"})
        assert tested["status"] == "up" and tested["score"] == 100
        assert [s["name"] for s in tested["steps"]] == ["reach", "list_models", "completion"]
        listing = await _ask(bus, "targets_list", {})
        assert [t["id"] for t in listing["targets"]] == ["llm", "site"]
        assert listing["targets"][0]["status"] == "up"
        # Errors name the field; the vigil.toml target is read-only; duplicates refused.
        with pytest.raises(RpcError) as bad:
            await _ask(bus, "targets_put", {"spec": {**spec, "id": "x", "interval_s": 0}})
        assert bad.value.code == 400 and "interval_s" in bad.value.description
        with pytest.raises(RpcError) as ro:
            await _ask(bus, "targets_put", {"spec": {**spec, "id": "site"}})
        assert "defined in vigil.toml" in ro.value.description
        with pytest.raises(RpcError) as dup:
            await _ask(bus, "targets_put", {"spec": spec, "create": True})
        assert "already exists" in dup.value.description
        with pytest.raises(RpcError) as header:
            await _ask(bus, "targets_put", {"spec": {**spec, "headers": {"Authorization": KEY}}})
        assert "headers.Authorization" in header.value.description
        with pytest.raises(RpcError) as unknown:
            await _ask(bus, "targets_test", {"id": "ghost"})
        assert "unknown target 'ghost'" in unknown.value.description
        await component.stop()
        # The key never reaches the database, only the name of its variable.
        db = settings.data_path / DB_NAME
        raw = b"".join(p.read_bytes() for p in db.parent.glob(DB_NAME + "*"))
        assert KEY.encode() not in raw and b"TEST_OPENAI_KEY" in raw
        # A restart brings the API target and its last status back before any check.
        again = TargetsComponent(settings, None)
        await again.start()
        try:
            view = again.runners["llm"].view()
            assert view["status"] == "up" and view["score"] == 100
            await again.delete("llm")
            assert "llm" not in again.runners
        finally:
            await again.stop()
        third = TargetsComponent(settings, None)
        await third.start()
        assert sorted(third.runners) == ["site"]
        await third.stop()


async def test_missing_secret_is_down_with_the_reason(
    bus: Bus, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# keys\nOPENAI=sk-from-file\n")
    fake = FakeOpenAI("sk-from-file")
    with serve(fake.routes()) as server:
        items = [
            {"id": "a", "kind": "model", "url": f"{server.url}/v1", "secret_env": "NOT_SET_X"},
            {"id": "b", "kind": "model", "url": f"{server.url}/v1", "secret_key": "OPENAI"},
            {"id": "c", "kind": "model", "url": f"{server.url}/v1", "secret_key": "OTHER"},
        ]
        settings = make_settings(ingest=_targets(*items, secrets_file=str(secrets), enabled=False))
        component = TargetsComponent(settings, bus)
        await component.start()
        try:
            a = await component.runners["a"].run_once()
            b = await component.runners["b"].run_once()
            c = await component.runners["c"].run_once()
        finally:
            await component.stop()
    assert a.status == "down"
    assert a.reason == "secret missing: environment variable NOT_SET_X is not set"
    assert b.status == "up" and b.score == 100
    assert c.status == "down" and "secret OTHER not in secrets file" in c.reason
