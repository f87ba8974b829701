"""SSE: a client that stops reading is dropped once its socket stays full; the others flow."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

from services.core import contracts
from services.core.config import Settings
from tests.conftest import free_port, wait_for
from tests.gateway.test_sse import take
from tests.gateway_harness import running_gateway

EVENTS = 300


async def stalled_socket(port: int, key: str) -> socket.socket:
    """Connects, asks for the stream with a tiny receive buffer, and never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = f"GET /api/v1/stream HTTP/1.1\r\nHost: t\r\nX-API-Key: {key}\r\n\r\n"
    await loop.sock_sendall(sock, request.encode())
    return sock


async def test_stalled_client_dropped_others_get_everything(
    make_settings: Callable[..., Settings],
) -> None:
    # A backlog limit far above the test's events: the stall rule, not the queue, must act.
    settings = make_settings(
        gateway={"port": free_port(), "sse_queue_size": 10_000, "sse_stall_s": 0.5}
    )
    async with running_gateway(settings) as gw:
        hub = gw.service.hub
        assert hub.stall_s == 0.5
        _info, key = await gw.service.auth.create_key("stalled", "viewer", "test")
        sock = await stalled_socket(settings.gateway.port, key)
        viewer = await gw.client("viewer")
        try:
            async with viewer.stream("GET", "/api/v1/stream?family=kpi") as r:
                await take(r, 1, {"hello"})
                await wait_for(lambda: len(hub.clients) == 2)
                stalled = next(c for c in hub.clients if not c.filter.families)
                # ~30 KB per event, 9 MB in all: more than the kernel buffers of a socket hold.
                values = {f"kpi_{i:03d}": float(i) for i in range(1500)}
                for n in range(EVENTS):
                    event = contracts.KpiUpdate(process="packing", values={**values, "n": n})
                    await gw.service.bus.publish(contracts.kpi("packing"), event)
                got = await take(r, EVENTS, {"kpi"})
                assert [json.loads(e["data"])["values"]["n"] for e in got] == list(range(EVENTS))
                await wait_for(lambda: hub.stalled_clients == 1)
                assert stalled.dropped and stalled.stalled
                assert stalled not in hub.clients and len(hub.clients) == 1
                assert stalled.writer is None  # its response ended; nothing waits on it
                # The reader is unaffected and still live.
                await gw.service.bus.publish(
                    contracts.kpi("packing"), contracts.KpiUpdate(process="packing")
                )
                assert len(await take(r, 1, {"kpi"})) == 1
        finally:
            sock.close()
