"""What route handlers share: settings, the bus, the SSE hub, auth and audit (on ``app.state``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request
from litestar.datastructures import State

from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.auth.ratelimit import RateLimiter
from services.gateway.cache import Cached, ReplyCache
from services.gateway.partitions import ask_partitioned, partitions_of
from services.gateway.sse import SseHub

if TYPE_CHECKING:
    from services.gateway.audit import AuditLog
    from services.gateway.auth.store import AuthStore


@dataclass
class GatewayState:
    """Shared by every request of one gateway process."""

    settings: Settings
    bus: Bus | None
    hub: SseHub
    # None only in an app built without a database (then every guarded route says 401).
    auth: AuthStore | None = None
    audit_log: AuditLog | None = None
    limiter: RateLimiter = field(init=False)
    cache: ReplyCache = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.gateway.rate_limits)
        self.cache = ReplyCache(ttl_s=self.settings.gateway.cache_ttl_s)
        self.hub.listeners.append(self.cache.on_event)

    async def ask(
        self, service: str, method: str, payload: Any = None, timeout: float = 5.0
    ) -> Any:
        """Request/reply to another service; returns the decoded JSON answer."""
        from services.core import contracts

        if self.bus is None:
            raise RuntimeError("gateway has no NATS connection")
        partitions = partitions_of(self.settings, service)
        if partitions > 1:  # several analyzer/alerts instances share the work
            return await ask_partitioned(self.bus, service, method, payload, partitions, timeout)
        data = await self.bus.request(contracts.api(service, method), payload, timeout=timeout)
        return msgspec.json.decode(data)

    async def ask_cached(
        self,
        service: str,
        method: str,
        payload: Any = None,
        *,
        families: tuple[str, ...] = ("kpi",),
        timeout: float = 5.0,
    ) -> Cached:
        """Like ``ask``, answered from the cache until an event of ``families`` arrives."""
        return await self.cache.get(
            service,
            method,
            payload or {},
            lambda: self.ask(service, method, payload, timeout),
            families,
        )


def gateway_state(request: Request[Any, Any, State]) -> GatewayState:
    state: GatewayState = request.app.state.vigil
    return state
