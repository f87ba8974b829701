"""REST basics under /api/v1: health and the SSE event stream."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from litestar.response import Stream

from services.core.bus import RpcError
from services.gateway.sse import ClientFilter
from services.gateway.sse_asgi import SseResponse, SseStream
from services.gateway.state import gateway_state


def _split(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


@get("/api/v1/health", sync_to_thread=False, opt={"public_if": "open_health"}, tags=["system"])
def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Liveness of the gateway and its NATS connection."""
    state = gateway_state(request)
    connected = bool(state.bus and state.bus.nc.is_connected)
    hub = state.hub
    return {
        "ok": connected,
        "nats": connected,
        "sse_clients": len(hub.clients),
        # Clients dropped for falling behind, and of those, for a socket that stayed full.
        "sse_dropped": hub.dropped_clients,
        "sse_stalled": hub.stalled_clients,
    }


@get(
    "/api/v1/stream",
    tags=["events"],
    media_type="text/event-stream",
    opt={"skip_compression": True},
)
async def stream(
    request: Request[Any, Any, Any],
    family: str | None = None,
    target: str | None = None,
    severity: str | None = None,
    last_event_id: str | None = None,
) -> Stream:
    """Live events as SSE, filtered by subject family, target and severity (comma lists).

    Send ``Last-Event-ID`` (or ``?last_event_id=``) to resume after a disconnect. Family
    ``rows`` is a compact summary of each work batch (docs/SSE.md).
    """
    state = gateway_state(request)
    if state.hub.full():
        raise HTTPException(status_code=503, detail="too many SSE clients; try again later")
    flt = ClientFilter(_split(family), _split(target), _split(severity))
    resume = request.headers.get("last-event-id") or last_event_id or ""
    client = state.hub.connect(flt, resume)
    # Frames go straight from the hub to the connection (sse_asgi): no generator chain.
    return SseResponse(SseStream(state.hub, client))


@get("/api/v1/kpi/today", tags=["kpi"])
async def kpi_today(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Today's production per process (events, trays, pcs), cached until the next KPI event.

    Answers 304 to ``If-None-Match`` with the current ETag.
    """
    state = gateway_state(request)
    try:
        cached = await state.ask_cached("analyzer", "work_today", {}, timeout=3.0)
    except RpcError as exc:
        raise HTTPException(status_code=502, detail=f"analyzer: {exc.description}") from None
    except Exception as exc:  # no responders, timeout: the analyzer is not there
        detail = f"analyzer unavailable ({type(exc).__name__})"
        raise HTTPException(status_code=503, detail=detail) from None
    headers = {"etag": cached.etag, "cache-control": "private, no-cache"}
    if request.headers.get("if-none-match") == cached.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(cached.body, media_type="application/json", headers=headers)


API_ROUTES = [health, stream, kpi_today]
