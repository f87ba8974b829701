"""The programs REST API and pages through a real gateway: roles, replies, audit, HTML."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.audit import AuditQuery
from services.ingest.programs import process as osproc
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway
from tests.programs.conftest import CHILD, Events, Managers, prog


async def test_roles_commands_registry_and_audit(
    make_settings: Callable[..., Settings], managers: Managers, events: Events
) -> None:
    manager = await managers.start(prog("labeler", "sleep"), {"id": "broken", "argv": ["/nope"]})
    await events.wait_state("labeler", "running")
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        operator = await gw.client("operator", via="api_key")
        admin = await gw.client("admin")
        anonymous = await gw.client(None)

        listed = (await viewer.get("/api/v1/programs")).json()
        assert {p["id"] for p in listed["programs"]} == {"labeler", "broken"}
        assert (await anonymous.get("/api/v1/programs")).status_code == 401

        refused = await viewer.post("/api/v1/programs/labeler/stop")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert manager.runners["labeler"].state == "running"

        pid = manager.runners["labeler"].pid
        stopped = await operator.post("/api/v1/programs/labeler/stop")
        assert stopped.status_code == 200 and stopped.json()["result"] == "done"
        assert pid and not osproc.alive(pid)
        again = await operator.post("/api/v1/programs/labeler/stop")
        assert again.status_code == 200 and again.json()["result"] == "already"
        started = await operator.post("/api/v1/programs/labeler/start")
        assert started.json()["result"] == "done"

        failed = await operator.post("/api/v1/programs/broken/start")
        assert failed.status_code == 409
        assert "executable /nope not found" in failed.json()["detail"]
        assert (await operator.post("/api/v1/programs/labeler/explode")).status_code == 404

        spec = {"argv": [sys.executable, CHILD, "sleep"], "name": "Scanner bridge"}
        assert (await operator.put("/api/v1/programs/bridge", json=spec)).status_code == 403
        created = await admin.put("/api/v1/programs/bridge", json=spec)
        assert created.status_code == 200 and created.json()["name"] == "Scanner bridge"
        await events.wait_state("bridge", "running")
        bad = await admin.put("/api/v1/programs/bad", json={"argv": "rm -rf /"})
        assert bad.status_code == 400 and "argv" in bad.json()["detail"]
        conflict = await admin.put("/api/v1/programs/labeler", json=spec)
        assert conflict.status_code == 409
        assert (await admin.delete("/api/v1/programs/bridge")).json()["deleted"] is True
        assert (await viewer.get("/api/v1/programs/bridge")).status_code == 404

        output = (await viewer.get("/api/v1/programs/labeler/output?lines=5")).json()
        assert any("sleeping" in line for line in output["lines"])

        rows, _ = await gw.service.audit_log.query(AuditQuery(action="program."))
        actions = {(r["action"], r["target"], r["ok"]) for r in rows}
        assert ("program.stop", "labeler", True) in actions
        assert ("program.start", "broken", False) in actions
        assert ("program.put", "bridge", True) in actions


async def test_pages_show_status_and_buttons_by_role(
    make_settings: Callable[..., Settings], managers: Managers, events: Events
) -> None:
    await managers.start(prog("labeler", "sleep", name="Label printer"))
    running = await events.wait_state("labeler", "running")
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        operator = await gw.client("operator")
        page = await viewer.get("/programs")
        assert page.status_code == 200
        assert "Label printer" in page.text and str(running.pid) in page.text
        assert 'data-testid="state-labeler"' in page.text
        assert 'data-testid="stop-labeler"' not in page.text  # viewers see no buttons
        page = await operator.get("/programs")
        assert 'data-testid="stop-labeler"' in page.text

        tiles = await viewer.get("/ui/fragments/programs")
        assert 'data-testid="tile-state-labeler"' in tiles.text

        log = managers.make_settings().data_path / "programs" / "labeler" / "output.log"
        await wait_for(lambda: log.exists() and "sleeping" in log.read_text())
        detail = await viewer.get("/programs/labeler")
        assert detail.status_code == 200 and "sleeping" in detail.text
        assert 'id="program-chart"' in detail.text

        clicked = await operator.post(
            "/ui/programs/labeler/restart", headers={"HX-Request": "true"}
        )
        assert clicked.status_code == 200 and 'class="cmd-result done"' in clicked.text
        assert (await viewer.get("/programs/nope")).status_code == 404


async def test_history_comes_from_the_analyzer_when_it_has_the_series(
    make_settings: Callable[..., Settings], managers: Managers, events: Events, bus: Bus
) -> None:
    from services.analyzer.history.component import HistoryComponent

    await managers.start(prog("labeler", "sleep"))
    await events.wait_state("labeler", "running")
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        fallback = (await viewer.get("/api/v1/programs/labeler/history")).json()
        assert fallback["source"] == "ingest" and fallback["points"]

        analyzer_bus = await Bus.connect(settings.nats, "analyzer")
        history = HistoryComponent(settings, analyzer_bus)
        await history.start()
        await analyzer_bus.serve("analyzer", history.endpoints())
        try:

            async def from_analyzer() -> Any:
                answer = (await viewer.get("/api/v1/programs/labeler/history")).json()
                return answer if answer.get("source") == "analyzer" else None

            answer = await wait_for(from_analyzer, timeout=20)
            last = answer["points"][-1]
            assert last["rss_mb"] and last["rss_mb"] > 1.0 and last["cpu_percent"] is not None
        finally:
            await history.stop()
            await analyzer_bus.close()
