"""The gateway service: the Litestar app under uvicorn, beside its NATS connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn

from services.core.service import StartupError, VigilService, check_port_free
from services.gateway.app import create_app
from services.gateway.audit import AuditLog
from services.gateway.auth.store import AuthStore
from services.gateway.wiring import open_state

FLUSH_EVERY_S = 30.0


def tls_files(cert: str, key: str) -> dict[str, Any]:
    """uvicorn's TLS arguments, or {} for plain HTTP; a missing file is a one-line error."""
    if not cert and not key:
        return {}
    if not (cert and key):
        raise StartupError("gateway.tls_cert and gateway.tls_key must be set together")
    for label, value in (("gateway.tls_cert", cert), ("gateway.tls_key", key)):
        if not Path(value).expanduser().is_file():
            raise StartupError(f"{label}: no such file {value}")
    return {
        "ssl_certfile": str(Path(cert).expanduser()),
        "ssl_keyfile": str(Path(key).expanduser()),
    }


def route_uvicorn_logs() -> None:
    """uvicorn's own and access logs go through Vigil's handlers: one formatted line each."""
    handlers = logging.getLogger("vigil").handlers
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = list(handlers)
        logger.propagate = False


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
        tls = tls_files(cfg.tls_cert, cfg.tls_key)
        self.state, self.first_password = await open_state(self.settings, self.bus, self.stack)
        assert self.state.auth is not None and self.state.audit_log is not None
        self.auth: AuthStore = self.state.auth
        self.audit_log: AuditLog = self.state.audit_log
        self.hub = self.state.hub
        app = create_app(self.state)
        route_uvicorn_logs()
        config = uvicorn.Config(
            app,
            host=cfg.bind,
            port=cfg.port,
            log_config=None,
            access_log=cfg.access_log,
            lifespan="on",
            ws="none",  # no websocket routes (live pages use SSE); "auto" loads websockets
            timeout_graceful_shutdown=2,
            **tls,
        )
        self.server = _QuietServer(config)
        task = asyncio.create_task(self.server.serve(), name="uvicorn")
        while not self.server.started:
            if task.done():
                exc = task.exception()
                raise StartupError(f"HTTP server failed to start: {exc or 'exited'}")
            await asyncio.sleep(0.02)
        self.stack.push_async_callback(self._stop_server, task)
        self.spawn(self._flush_loop(), "auth-flush")
        scheme = "https" if tls else "http"
        self.log.info("listening", url=f"{scheme}://{cfg.bind}:{cfg.port}")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self.auth.flush()
            except Exception as exc:
                self.log.warning("auth flush failed", error=repr(exc)[:200])

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
