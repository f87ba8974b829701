"""The gateway as a plain ASGI app factory, for other ASGI servers (granian, hypercorn).

``granian --interface asgi --factory services.gateway.asgi:app_factory --port 8089``
reads vigil.toml / ``$VIGIL_CONFIG`` and the ``VIGIL_*`` environment like the service;
the NATS connection, database and SSE hub open in the app's lifespan. ``vigil gateway``
(uvicorn with uvloop and httptools) stays the default: bench/bench_gateway.py measures both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar

from services.core.bus import Bus
from services.core.config import load_settings
from services.core.logs import setup_logging
from services.gateway.app import create_app
from services.gateway.sse import SseHub
from services.gateway.state import GatewayState
from services.gateway.wiring import open_state


def app_factory() -> Litestar:
    settings = load_settings(os.environ.get("VIGIL_CONFIG"))
    setup_logging("gateway", settings.log.level, settings.data_path / "logs")
    # Filled in by the lifespan; the middleware and handlers read it per request.
    state = GatewayState(settings=settings, bus=None, hub=SseHub())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            bus = await Bus.connect(settings.nats, "gateway")
            stack.push_async_callback(bus.close)
            await bus.ensure_streams(replicas=settings.nats.replicas)
            ready, _password = await open_state(settings, bus, stack)
            state.bus, state.hub, state.auth = ready.bus, ready.hub, ready.auth
            state.audit_log = ready.audit_log
            ready.hub.listeners.append(state.cache.on_event)
            yield

    return create_app(state, lifespan=[lifespan])
