"""Run a real gateway in-process for REST tests, with logged-in httpx clients per role.

Usage (with the fixtures of tests/conftest.py)::

    from tests.conftest import free_port
    from tests.gateway_harness import running_gateway

    async def test_something(make_settings):
        settings = make_settings(gateway={"port": free_port()})
        async with running_gateway(settings) as gw:
            viewer = await gw.client("viewer")          # browser-like session + CSRF header
            r = await viewer.get("/api/v1/auth/me")
            operator = await gw.client("operator", via="api_key")  # X-API-Key header
            anonymous = await gw.client(None)
            assert (await anonymous.get("/api/v1/auth/me")).status_code == 401

``gw.client(role)`` creates the user ``test-<role>`` (or an API key) directly in the
gateway's auth store and returns an ``httpx.AsyncClient`` bound to ``gw.url``; all
clients are closed when the block ends. Session clients send the ``X-CSRF-Token``
header on every request, as the UI's HTMX does. Rate limits are raised out of the way
unless you pass ``keep_rate_limits=True``. ``gw.service`` is the GatewayService
(``gw.service.auth``, ``.audit_log``, ``.hub``, ``.bus``), ``gw.admin_password`` the
first-run one-time password of ``admin``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import httpx
import msgspec

from services.core.config import Settings
from services.core.config.gateway import RateLimits
from services.gateway.auth.middleware import SESSION_COOKIE
from services.gateway.service import GatewayService

TEST_PASSWORD = "correct-horse-battery"
UNLIMITED = RateLimits(auth=100_000, management=100_000, actions=100_000, metrics=100_000)


@dataclass
class RunningGateway:
    """A started gateway plus helpers to talk to it."""

    service: GatewayService
    url: str
    admin_password: str | None
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def ensure_user(self, name: str, role: str, password: str = TEST_PASSWORD) -> None:
        if name not in self.service.auth.users:
            await self.service.auth.create_user(name, password, role)

    async def client(
        self,
        role: Literal["viewer", "operator", "admin"] | None = "viewer",
        *,
        via: Literal["session", "api_key"] = "session",
        name: str | None = None,
        **httpx_kwargs: object,
    ) -> httpx.AsyncClient:
        """An httpx client logged in as ``role`` (None: no credentials)."""
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        if role is not None and via == "session":
            user = name or f"test-{role}"
            await self.ensure_user(user, role)
            token = await self.service.auth.new_session(user, "127.0.0.1")
            cookies[SESSION_COOKIE] = token
            headers["X-CSRF-Token"] = self.service.auth.csrf_token(token)
        elif role is not None:
            _info, secret = await self.service.auth.create_key(name or f"test-{role}", role, "test")
            headers["X-API-Key"] = secret
        client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            cookies=cookies,
            timeout=10.0,
            verify=False,
            **httpx_kwargs,  # type: ignore[arg-type]
        )
        self._clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, *, keep_rate_limits: bool = False
) -> AsyncIterator[RunningGateway]:
    """Start GatewayService against the test broker on ``settings.gateway.port``."""
    if not keep_rate_limits:
        gateway = msgspec.structs.replace(settings.gateway, rate_limits=UNLIMITED)
        settings = msgspec.structs.replace(settings, gateway=gateway)
    scheme = "https" if settings.gateway.tls_cert else "http"
    service = GatewayService(settings)
    async with service:
        gw = RunningGateway(
            service=service,
            url=f"{scheme}://{settings.gateway.bind}:{settings.gateway.port}",
            admin_password=service.first_password,
        )
        try:
            yield gw
        finally:
            await gw.close_clients()
