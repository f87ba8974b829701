"""REST basics under /api/v1: health and the SSE event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from litestar.response import Stream

from services.core.bus import RpcError
from services.gateway.sse import ClientFilter
from services.gateway.state import gateway_state


def _split(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


@get("/api/v1/health", sync_to_thread=False, opt={"public_if": "open_health"}, tags=["system"])
def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Liveness of the gateway and its NATS connection."""
    state = gateway_state(request)
    connected = bool(state.bus and state.bus.nc.is_connected)
    return {"ok": connected, "nats": connected, "sse_clients": len(state.hub.clients)}


@get("/api/v1/stream", tags=["events"], opt={"skip_compression": True})
async def stream(
    request: Request[Any, Any, Any],
    family: str | None = None,
    target: str | None = None,
    severity: str | None = None,
    last_event_id: str | None = None,
) -> Stream:
    """Live events as SSE, filtered by subject family, target and severity (comma lists).

    Send ``Last-Event-ID`` (or ``?last_event_id=``) to resume after a disconnect.
    """
    state = gateway_state(request)
    if state.hub.full():
        raise HTTPException(status_code=503, detail="too many SSE clients; try again later")
    flt = ClientFilter(_split(family), _split(target), _split(severity))
    resume = request.headers.get("last-event-id") or last_event_id or ""
    hub = state.hub
    client = hub.connect(flt, resume)
    heartbeat = state.settings.gateway.sse_heartbeat_s

    async def frames() -> AsyncIterator[bytes]:
        # Hand-written frames: each event's data lines are encoded once for all clients.
        hello = hub.event_id(client)
        yield f"retry: 2000\nevent: hello\n{_id_line(hello)}data: {{}}\n\n".encode()
        async for batch in hub.batches(client, heartbeat):
            if batch is None:
                yield b": heartbeat\n\n"
                continue
            parts = [p.frame_tail for e in batch for p in client.filter.parts(e)]
            if batch[-1].stream:
                # Only the last event of a write carries the id: a resume never skips one.
                parts[-1] = _id_line(hub.event_id(client)).encode() + parts[-1]
            yield b"".join(parts)

    return Stream(
        frames(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def _id_line(ident: str) -> str:
    return f"id: {ident}\n" if ident else ""


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
