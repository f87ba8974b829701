"""The gateway service: the Litestar app under uvicorn, beside its NATS connection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Generator

import uvicorn

from services.core.service import StartupError, VigilService
from services.gateway.app import create_app
from services.gateway.sse import SseHub
from services.gateway.state import GatewayState


def check_port_free(host: str, port: int) -> None:
    """Fail early with one line when the HTTP port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {host} is already in use") from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM/SIGINT belong to our runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class GatewayService(VigilService):
    """Serves REST, SSE and the UI; asks the other services over NATS."""

    name = "gateway"

    async def start(self) -> None:
        cfg = self.settings.gateway
        check_port_free(cfg.bind, cfg.port)
        self.hub = SseHub(queue_size=cfg.sse_queue_size, max_clients=cfg.sse_max_clients)
        await self.hub.start(self.bus.nc)
        self.stack.push_async_callback(self.hub.stop)
        app = create_app(GatewayState(settings=self.settings, bus=self.bus, hub=self.hub))
        config = uvicorn.Config(
            app,
            host=cfg.bind,
            port=cfg.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = _QuietServer(config)
        task = asyncio.create_task(self.server.serve(), name="uvicorn")
        while not self.server.started:
            if task.done():
                exc = task.exception()
                raise StartupError(f"HTTP server failed to start: {exc or 'exited'}")
            await asyncio.sleep(0.02)
        self.stack.push_async_callback(self._stop_server, task)
        self.log.info("listening", url=f"http://{cfg.bind}:{cfg.port}")

    async def _stop_server(self, task: asyncio.Task[None]) -> None:
        # SSE streams never end by themselves: drop the clients, then stop uvicorn.
        await self.hub.stop()
        self.server.should_exit = True
        try:
            await asyncio.wait_for(task, 3.0)
        except (TimeoutError, asyncio.CancelledError):
            self.server.force_exit = True
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def health_detail(self) -> dict[str, object]:
        return {"sse_clients": len(self.hub.clients), "port": self.settings.gateway.port}
