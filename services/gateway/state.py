"""What route handlers share: settings, the bus and the SSE hub (kept on ``app.state``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import State

from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.sse import SseHub


@dataclass
class GatewayState:
    """Shared by every request of one gateway process."""

    settings: Settings
    bus: Bus | None
    hub: SseHub

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
