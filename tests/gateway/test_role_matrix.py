"""Every endpoint × every role × no credentials: allowed or denied as DESIGN §7 says."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

ROLES = ("viewer", "operator", "admin")
RANK = {None: 0, "viewer": 1, "operator": 2, "admin": 3}

# (method, path, least role that may call it, JSON body). Calls are made so that
# an allowed call changes nothing important (unknown names give 404 after the guard).
MATRIX: list[tuple[str, str, str | None, Any]] = [
    ("GET", "/api/v1/auth/me", "viewer", None),
    ("GET", "/api/v1/health", "viewer", None),
    ("GET", "/settings", "viewer", None),
    ("GET", "/account/password", "viewer", None),
    ("GET", "/api/v1/users", "admin", None),
    ("POST", "/api/v1/users", "admin", {"name": "", "password": "x", "role": "viewer"}),
    ("PATCH", "/api/v1/users/nobody-here", "admin", {"role": "viewer"}),
    ("DELETE", "/api/v1/users/nobody-here", "admin", None),
    ("GET", "/api/v1/keys", "admin", None),
    ("POST", "/api/v1/keys", "admin", {"name": "", "role": "viewer"}),
    ("DELETE", "/api/v1/keys/nokey", "admin", None),
    ("GET", "/api/v1/audit", "admin", None),
    ("GET", "/api/v1/audit/export", "admin", None),
    ("GET", "/api/v1/backups", "admin", None),
    ("GET", "/api/v1/backups/vigil-backup-20000101-000000.tar.gz", "admin", None),
    ("GET", "/settings/audit", "admin", None),
    ("POST", "/settings/keys/nokey/revoke", "admin", None),
    ("POST", "/settings/users/nobody-here/delete", "admin", None),
    ("GET", "/login", None, None),
    ("GET", "/api/v1/schema/openapi.json", None, None),
    ("GET", "/static/vigil.css", None, None),
]

# Public by design; everything else must refuse a caller without credentials.
PUBLIC = {"/login", "/ui/lang/{code:str}", "/ui/theme/{mode:str}", "/api/v1/auth/login"}


async def _call(client: httpx.AsyncClient, method: str, path: str, body: Any) -> int:
    if (
        method in {"POST", "PUT", "PATCH", "DELETE"}
        and body is None
        and not path.startswith("/api/")
    ):
        r = await client.request(method, path, data={})
    else:
        r = await client.request(method, path, json=body)
    return r.status_code


async def test_role_matrix(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        clients: dict[str | None, list[httpx.AsyncClient]] = {None: [await gw.client(None)]}
        for role in ROLES:
            clients[role] = [await gw.client(role), await gw.client(role, via="api_key")]
        failures = []
        for method, path, least, body in MATRIX:
            for role, pair in clients.items():
                for client in pair:
                    status = await _call(client, method, path, body)
                    allowed = RANK[role] >= RANK[least]
                    if allowed and status in (401, 403):
                        failures.append(f"{method} {path} as {role}: refused {status}")
                    if not allowed and status not in (401, 403):
                        failures.append(f"{method} {path} as {role}: got {status}")
                    if not allowed and role is None and status != 401:
                        failures.append(f"{method} {path} anonymous: {status}, not 401")
        assert not failures, "\n".join(failures)


async def test_every_route_refuses_anonymous(make_settings: Callable[..., Settings]) -> None:
    """Default-deny covers every route, including ones other areas add later."""
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        app: Litestar = gw.service.server.config.app  # type: ignore[assignment]
        anon = await gw.client(None)
        checked = 0
        failures = []
        for route in app.routes:
            if not isinstance(route, HTTPRoute) or route.path in PUBLIC:
                continue
            if route.path.startswith(("/static", "/api/v1/schema")):
                continue
            path = re.sub(r"\{[^}:]+:path\}", "x/y", route.path)
            path = re.sub(r"\{[^}:]+:int\}", "1", path)
            path = re.sub(r"\{[^}]+\}", "x", path)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                r = await anon.request(method, path, headers={"accept": "application/json"})
                checked += 1
                if r.status_code != 401:
                    failures.append(f"{method} {route.path}: {r.status_code}")
        assert checked >= 15
        assert not failures, "\n".join(failures)


async def test_open_health_when_configured(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port(), "open_health": True})
    async with running_gateway(settings) as gw:
        r = await (await gw.client(None)).get("/api/v1/health")
        assert r.status_code == 200 and r.json()["nats"] is True
        r = await (await gw.client(None)).get("/api/v1/users")
        assert r.status_code == 401
