"""Assemble the gateway's shared state (database, auth, audit, SSE hub) on an open bus."""

from __future__ import annotations

import contextlib

from services.core.bus import Bus
from services.core.config import Settings
from services.gateway.audit import AuditLog
from services.gateway.auth.bootstrap import ensure_admin
from services.gateway.auth.db import GatewayDb
from services.gateway.auth.store import AuthStore
from services.gateway.sse import SseHub
from services.gateway.state import GatewayState


async def open_state(
    settings: Settings, bus: Bus, stack: contextlib.AsyncExitStack
) -> tuple[GatewayState, str | None]:
    """The state, with clean-ups on ``stack``; also the first admin's one-time password."""
    cfg = settings.gateway
    db = GatewayDb(settings.db_path("gateway"))
    stack.callback(db.close)
    auth = AuthStore(
        db,
        session_s=cfg.session_hours * 3600,
        lockout_failures=cfg.lockout_failures,
        lockout_s=cfg.lockout_minutes * 60,
    )
    await auth.load()
    stack.push_async_callback(auth.flush)
    first_password = await ensure_admin(auth, cfg)
    hub = SseHub(
        queue_size=cfg.sse_queue_size,
        max_clients=cfg.sse_max_clients,
        resume_max=cfg.sse_resume_max,
        heartbeat_s=cfg.sse_heartbeat_s,
        stall_s=cfg.sse_stall_s,
    )
    await hub.start(bus)
    stack.push_async_callback(hub.stop)
    state = GatewayState(
        settings=settings, bus=bus, hub=hub, auth=auth, audit_log=AuditLog(db, bus)
    )
    return state, first_password
