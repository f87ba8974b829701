"""Targets through the real gateway: REST with roles and problem+json, pages and fragments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.targets.component import TargetsComponent
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.targets.servers import FakeOpenAI, serve, text_reply

KEY = "sk-gateway-secret-77"


async def test_targets_rest_and_pages(
    bus: Bus,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TEST_GW_OPENAI_KEY", KEY)
    fake = FakeOpenAI(KEY)
    routes = {**fake.routes(), "/health": lambda h: text_reply("ok")}
    with serve(routes) as server:
        settings = make_settings(
            gateway={"port": free_port()},
            ingest={"targets": {"items": [
                {"id": "web", "kind": "http", "url": f"{server.url}/health", "interval_s": 3600}
            ]}},
        )  # fmt: skip
        component = TargetsComponent(settings, bus)
        await component.start()
        await bus.serve("ingest", component.endpoints())
        try:
            async with running_gateway(settings) as gw:
                admin = await gw.client("admin")
                operator = await gw.client("operator")
                viewer = await gw.client("viewer")
                spec = {
                    "id": "llm",
                    "name": "Chat API",
                    "kind": "model",
                    "url": f"{server.url}/v1",
                    "secret_env": "TEST_GW_OPENAI_KEY",
                    "interval_s": 3600,
                }
                # Viewers and operators cannot change the registry.
                assert (await viewer.post("/api/v1/targets", json=spec)).status_code == 403
                assert (await operator.post("/api/v1/targets", json=spec)).status_code == 403
                created = await admin.post("/api/v1/targets", json=spec)
                assert created.status_code == 201, created.text
                bad = await admin.post("/api/v1/targets", json={**spec, "id": "x", "url": "nope"})
                assert bad.status_code == 400
                assert bad.headers["content-type"].startswith("application/problem+json")
                assert "url: expected http" in bad.json()["detail"]
                missing = await viewer.get("/api/v1/targets/ghost")
                assert missing.status_code == 404
                # Test now: operators may; viewers may not.
                assert (await viewer.post("/api/v1/targets/llm/test")).status_code == 403
                tested = await operator.post("/api/v1/targets/llm/test")
                assert tested.status_code == 200, tested.text
                assert tested.json()["status"] == "up" and tested.json()["score"] == 100
                await operator.post("/api/v1/targets/web/test")
                listing = (await viewer.get("/api/v1/targets")).json()
                statuses = {t["id"]: t["status"] for t in listing["targets"]}
                assert statuses == {"llm": "up", "web": "up"}
                # Editing a vigil.toml target is refused with the reason.
                ro = await admin.put("/api/v1/targets/web", json={**spec, "id": "web"})
                assert ro.status_code == 400 and "vigil.toml" in ro.json()["detail"]
                # Pages: list, detail, overview tiles; the key never shows, its name may.
                page = await viewer.get("/targets")
                assert page.status_code == 200 and 'data-target="llm"' in page.text
                assert "target-form" not in page.text  # viewers get no add form
                admin_page = await admin.get("/targets")
                assert "target-form" in admin_page.text
                detail = await admin.get("/targets/llm")
                assert detail.status_code == 200 and "100/100" in detail.text
                assert "TEST_GW_OPENAI_KEY" in detail.text
                tiles = await viewer.get("/ui/fragments/targets")
                assert 'data-testid="target-tiles"' in tiles.text and "Chat API" in tiles.text
                for response in (page, admin_page, detail, tiles, tested):
                    assert KEY not in response.text
                # The admin form: an error names the field and keeps the input.
                form = {"id": "f1", "kind": "http", "url": f"{server.url}/health",
                        "interval_s": "soon", "csrf_token": ""}  # fmt: skip
                answer = await admin.post("/ui/targets", data=form)
                assert "interval_s: expected a number" in answer.text
                form["interval_s"] = "30"
                form["enabled"] = "on"
                saved = await admin.post("/ui/targets", data=form, headers={"HX-Request": "true"})
                assert saved.status_code == 200
                assert saved.headers.get("hx-redirect") == "/targets/f1"
                form["mode"] = "edit"
                form["name"] = "Front door"
                edited = await admin.post("/ui/targets", data=form)  # a plain form post
                assert edited.status_code == 303 and edited.headers["location"] == "/targets/f1"
                assert (await viewer.get("/api/v1/targets/f1")).json()["name"] == "Front door"
                deleted = await admin.delete("/api/v1/targets/f1")
                assert deleted.status_code == 200
                assert (await viewer.get("/api/v1/targets/f1")).status_code == 404
        finally:
            await component.stop()
