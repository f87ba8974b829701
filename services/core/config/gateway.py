"""Settings of the gateway service: HTTP listener, security, UI."""

from __future__ import annotations

import msgspec


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """REST, SSE and the UI."""

    bind: str = "127.0.0.1"
    port: int = 8089
    sse_max_clients: int = 1000
    sse_queue_size: int = 256
    sse_heartbeat_s: float = 15.0
