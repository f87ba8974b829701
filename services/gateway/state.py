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

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.gateway.rate_limits)

    async def ask(
        self, service: str, method: str, payload: Any = None, timeout: float = 5.0
    ) -> Any:
        """Request/reply to another service; returns the decoded JSON answer."""
        from services.core import contracts

        if self.bus is None:
            raise RuntimeError("gateway has no NATS connection")
        data = await self.bus.request(contracts.api(service, method), payload, timeout=timeout)
        return msgspec.json.decode(data)


def gateway_state(request: Request[Any, Any, State]) -> GatewayState:
    state: GatewayState = request.app.state.vigil
    return state
