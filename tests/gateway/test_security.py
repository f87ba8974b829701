"""Login lockout, CSRF, API-key lifecycle, rate limits and audit events, over real HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec

from services.core import contracts
from services.core.config import Settings
from tests.conftest import free_port, wait_for
from tests.gateway_harness import TEST_PASSWORD, running_gateway


async def _audit_events(gw: Any) -> tuple[list[contracts.AuditEvent], Any]:
    got: list[contracts.AuditEvent] = []

    async def on(msg: Any) -> None:
        got.append(msgspec.json.decode(msg.data, type=contracts.AuditEvent))

    sub = await gw.service.bus.nc.subscribe("vigil.audit.>", cb=on)
    return got, sub


async def test_lockout_after_five_failures(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        await gw.ensure_user("bob", "viewer")
        events, _sub = await _audit_events(gw)
        client = await gw.client(None)
        for _ in range(5):
            r = await client.post("/api/v1/auth/login", json={"name": "bob", "password": "nope"})
            assert r.status_code == 401
            assert r.headers["content-type"].startswith("application/problem+json")
        # The right password no longer helps: the name is locked.
        r = await client.post("/api/v1/auth/login", json={"name": "bob", "password": TEST_PASSWORD})
        assert r.status_code == 401 and "too many" in r.json()["detail"]
        assert "vigil_session" not in r.headers.get("set-cookie", "")
        # Another user is not affected.
        await gw.ensure_user("carol", "viewer")
        r = await client.post(
            "/api/v1/auth/login", json={"name": "carol", "password": TEST_PASSWORD}
        )
        assert r.status_code == 200 and r.json()["role"] == "viewer"
        await wait_for(lambda: len([e for e in events if e.action == "login"]) >= 7)
        logins = [e for e in events if e.action == "login"]
        assert [e.ok for e in logins if e.actor == "bob"] == [False] * 6
        assert any(e.actor == "carol" and e.ok for e in logins)
        assert all(e.remote == "127.0.0.1" for e in logins)
        # The lock survives a restart: it is in gateway.sqlite.
        assert gw.service.auth.locked("bob")
    async with running_gateway(settings) as gw2:
        assert gw2.service.auth.locked("bob")


async def test_csrf_required_for_session_writes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        admin = await gw.client("admin")
        token = admin.headers.pop("X-CSRF-Token")
        body = {"name": "robot", "role": "viewer"}
        r = await admin.post("/api/v1/keys", json=body)
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = await admin.post("/api/v1/keys", json=body, headers={"X-CSRF-Token": "0" * 64})
        assert r.status_code == 403
        # Another session's token is no good either.
        other = await gw.client("admin", name="other-admin")
        r = await admin.post(
            "/api/v1/keys", json=body, headers={"X-CSRF-Token": other.headers["X-CSRF-Token"]}
        )
        assert r.status_code == 403
        assert not gw.service.auth.keys  # nothing was created by the refused requests
        r = await admin.post("/api/v1/keys", json=body, headers={"X-CSRF-Token": token})
        assert r.status_code == 201
        # A plain HTML form without its hidden token is refused too.
        r = await admin.post("/settings/users", data={"name": "x1", "password": "p" * 12})
        assert r.status_code == 403 and "x1" not in gw.service.auth.users
        r = await admin.post(
            "/settings/users",
            data={"name": "x1", "password": "p" * 12, "role": "viewer", "csrf_token": token},
        )
        assert r.status_code == 200 and "x1" in gw.service.auth.users
        # The login form needs its pre-login token.
        anon = await gw.client(None)
        r = await anon.post("/login", data={"name": "x1", "password": "p" * 12})
        assert r.status_code == 403
        # API keys carry no ambient authority, so they need no CSRF token.
        keyed = await gw.client("admin", via="api_key")
        r = await keyed.post("/api/v1/keys", json={"name": "k2", "role": "viewer"})
        assert r.status_code == 201


async def test_api_key_lifecycle(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        admin = await gw.client("admin")
        r = await admin.post("/api/v1/keys", json={"name": "line-3 scanner", "role": "operator"})
        assert r.status_code == 201
        created = r.json()
        secret, key_id = created["key"], created["id"]
        assert secret.startswith(f"vk_{key_id}_") and created["role"] == "operator"
        listed = (await admin.get("/api/v1/keys")).json()
        assert [k["id"] for k in listed] == [key_id]
        assert "key" not in listed[0] and secret not in str(listed)
        # Stored hashed: the secret appears nowhere in the database file.
        with sqlite3.connect(settings.db_path("gateway")) as db:
            rows = db.execute("SELECT * FROM api_keys").fetchall()
        assert rows and secret not in repr(rows)
        for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
            r = await (await gw.client(None)).get("/api/v1/auth/me", headers=headers)
            assert r.json() == {"name": "key:line-3 scanner", "role": "operator", "via": "api_key"}
        # Scoped to its role: an operator key cannot manage users.
        r = await (await gw.client(None)).get("/api/v1/users", headers={"X-API-Key": secret})
        assert r.status_code == 403
        r = await admin.delete(f"/api/v1/keys/{key_id}")
        assert r.status_code == 204
        r = await (await gw.client(None)).get("/api/v1/auth/me", headers={"X-API-Key": secret})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        assert (await admin.get("/api/v1/keys")).json()[0]["revoked"] is True
        r = await (await gw.client(None)).get("/api/v1/auth/me", headers={"X-API-Key": "vk_x_y"})
        assert r.status_code == 401
        audit = (await admin.get("/api/v1/audit", params={"action": "key."})).json()
        assert [i["action"] for i in audit["items"]] == ["key.revoke", "key.create"]
        assert audit["items"][0]["actor"] == "test-admin" and audit["total"] == 2
    # Revocation survives a restart.
    async with running_gateway(settings) as gw2:
        r = await (await gw2.client(None)).get("/api/v1/auth/me", headers={"X-API-Key": secret})
        assert r.status_code == 401


async def test_rate_limits(make_settings: Callable[..., Settings]) -> None:
    limits = {"auth": 3, "management": 2, "actions": 10, "metrics": 100}
    settings = make_settings(gateway={"port": free_port(), "rate_limits": limits})
    async with running_gateway(settings, keep_rate_limits=True) as gw:
        events, _sub = await _audit_events(gw)
        admin = await gw.client("admin", via="api_key")
        codes = []
        for i in range(4):
            r = await admin.post("/api/v1/keys", json={"name": f"k{i}", "role": "viewer"})
            codes.append(r.status_code)
        assert codes == [201, 201, 429, 429]
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(r.headers["retry-after"]) <= 61
        # Reads are not limited, and another caller has its own budget.
        assert (await admin.get("/api/v1/keys")).status_code == 200
        other = await gw.client("admin", via="api_key", name="other")
        r = await other.post("/api/v1/keys", json={"name": "k9", "role": "viewer"})
        assert r.status_code == 201
        anon = await gw.client(None)
        login_codes = [
            (await anon.post("/api/v1/auth/login", json={"name": "z", "password": "z"})).status_code
            for _ in range(4)
        ]
        assert login_codes == [401, 401, 401, 429]
        await wait_for(lambda: len([e for e in events if e.action == "rate_limited"]) >= 2)
        limited = [e for e in events if e.action == "rate_limited"]
        assert {e.target for e in limited} == {"management", "auth"}
        assert all(not e.ok for e in limited)
        # One record per caller and category, not one per refused request.
        await asyncio.sleep(0.2)
        assert len([e for e in events if e.action == "rate_limited"]) == 2
