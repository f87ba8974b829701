"""The registry over request/reply: add, list, inspect, delete; kept in ingest-programs.sqlite."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import msgspec
import pytest

from services.core import contracts
from services.core.bus import Bus, RpcError
from tests.conftest import wait_for
from tests.programs.conftest import CHILD, Events, Managers, prog


async def ask(bus: Bus, method: str, payload: Any) -> Any:
    return msgspec.json.decode(await bus.request(contracts.api("ingest", method), payload))


async def test_add_list_history_delete_and_persist(
    managers: Managers, events: Events, bus: Bus
) -> None:
    manager = await managers.start(prog("from-toml", "sleep"))
    added = await ask(bus, "program_put", prog("from-api", "sleep", name="API program"))
    assert added["id"] == "from-api" and added["origin"] == "api"
    pid = (await events.wait_state("from-api", "running")).pid

    listed = await ask(bus, "program_list", {})
    assert listed["host"] == "testhost"
    assert [p["id"] for p in listed["programs"]] == ["from-api", "from-toml"]
    assert listed["programs"][0]["name"] == "API program"

    await wait_for(lambda: len(manager.runners["from-api"].history.recent) >= 2)
    history = await ask(bus, "program_history", {"id": "from-api"})
    assert history["points"] and history["points"][-1]["up"] > 0
    assert history["points"][-1]["rss_mb"] > 1.0  # a live Python process
    detail = await ask(bus, "program_get", {"id": "from-api"})
    assert detail["spec"]["argv"] == [sys.executable, CHILD, "sleep"]
    assert detail["status"]["pid"] == pid and detail["recent"]

    db = managers.make_settings().data_path / "ingest-programs.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select id from ingest_program").fetchall()
    assert rows == [("from-api",)]

    # A new ingest finds the API program again (and the still-running child: it adopts it).
    await managers.stop(manager)
    manager = await managers.start(prog("from-toml", "sleep"))
    assert manager.runners["from-api"].origin == "api"
    await wait_for(lambda: manager.runners["from-api"].state == "running")

    gone = await ask(bus, "program_delete", {"id": "from-api"})
    assert gone == {"id": "from-api", "deleted": True}
    assert "from-api" not in manager.runners
    assert (await ask(bus, "program_get", {"id": "from-api"}))["status"] == 404
    await managers.stop(manager)
    manager = await managers.start(prog("from-toml", "sleep"))
    assert set(manager.runners) == {"from-toml"}


async def test_config_programs_cannot_be_changed_over_the_api(managers: Managers, bus: Bus) -> None:
    await managers.start(prog("fixed", "sleep"))
    answer = await ask(bus, "program_put", prog("fixed", "crash"))
    assert answer["status"] == 409 and "vigil.toml" in answer["error"]
    answer = await ask(bus, "program_delete", {"id": "fixed"})
    assert answer["status"] == 409


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"id": "shell", "argv": "python -c 'print(1)'"}, "argv"),
        ({"id": "x", "argv": ["a"], "restart": "sometimes"}, "restart"),
        ({"id": "x", "argv": ["a"], "max_retries": -1}, "max_retries"),
        ({"id": "x", "argv": ["a"], "colour": "red"}, "colour"),
        ({"argv": ["a"]}, "id"),
    ],
)
async def test_bad_definitions_are_rejected_with_the_field(
    managers: Managers, bus: Bus, payload: dict[str, Any], needle: str
) -> None:
    await managers.start()
    with pytest.raises(RpcError) as err:
        await ask(bus, "program_put", payload)
    assert err.value.code == 400 and needle in err.value.description
