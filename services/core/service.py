"""The shape every Vigil service shares: an async context manager on an AsyncExitStack.

``run_main(ServiceClass)`` is what each ``services/<name>/__main__.py`` calls: it
parses the command line, builds Settings once, sets up logging, and runs the
service until SIGTERM/SIGINT, turning start-up failures into one readable line.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, ClassVar

from services.core import contracts
from services.core.bus import Bus, BusUnavailable
from services.core.config import Settings
from services.core.logs import get_logger

# Re-exported: services and tests import these from here; they live in startup.py so that
# the supervisor can use them without importing the bus.
from services.core.startup import (
    StartupError,
    base_parser,
    check_port_free,
    ensure_writable,
    load_or_exit,
    release_free_memory,
    service_args,
)
from services.core.tasks import stop_tasks

__all__ = [
    "StartupError",
    "VigilService",
    "base_parser",
    "check_port_free",
    "ensure_writable",
    "load_or_exit",
    "run_main",
    "serve_until_stopped",
]

TRIM_EVERY_S = 60.0


class VigilService:
    """Base of the four services. Subclasses set ``name`` and override ``start``."""

    name: ClassVar[str] = "service"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(self.name)
        self.stack = AsyncExitStack()
        self.started_at = time.time()
        self.stopping = asyncio.Event()
        self._bus: Bus | None = None

    @property
    def bus(self) -> Bus:
        assert self._bus is not None, "service not entered"
        return self._bus

    async def __aenter__(self) -> VigilService:
        await self.stack.__aenter__()
        try:
            ensure_writable(self.settings.data_path)
            self._bus = await Bus.connect(
                self.settings.nats, self.name, deadline_s=self.settings.nats.connect_deadline_s
            )
            self.stack.push_async_callback(self._bus.close)
            await self._bus.ensure_streams(replicas=self.settings.nats.replicas)
            await self.start()
            endpoints: dict[str, Callable[[bytes], Awaitable[Any]]] = {"health": self._health}
            endpoints.update(self.endpoints())
            await self._bus.serve(self.name, endpoints)
        except BaseException:
            await self.stack.aclose()
            raise
        self.log.info("started", pid=os.getpid(), nats=",".join(self.settings.nats.servers))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        await self.stack.aclose()
        self.log.info("stopped")

    # -- hooks ---------------------------------------------------------------

    async def start(self) -> None:
        """Start consumers and tasks; register clean-ups on ``self.stack``."""

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        """Extra request/reply methods served on ``vigil.api.<name>.<method>``."""
        return {}

    def health_detail(self) -> dict[str, Any]:
        """Figures shown by ``vigil status``."""
        return {}

    # -- helpers ---------------------------------------------------------------

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """Run a background task that is cancelled when the service exits."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}:{name}")

        async def cancel() -> None:
            await stop_tasks([task])

        self.stack.push_async_callback(cancel)
        return task

    async def _health(self, _data: bytes) -> contracts.ServiceHealth:
        return contracts.ServiceHealth(
            service=self.name,
            ok=True,
            pid=os.getpid(),
            uptime_s=round(time.time() - self.started_at, 1),
            detail=self.health_detail(),
        )


async def _watch_parent(stop: asyncio.Event) -> None:
    """Under ``vigil up``: stop when the supervisor vanishes, so no orphan survives it."""
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _keep_heap_trim(stop: asyncio.Event) -> None:
    """Give freed heap back to the OS once ready, then now and then (see release_free_memory).

    Trimming right away drops what imports and start-up left behind; a slow period after
    catches large transient work (a backfill, a big export) without costing anything
    measurable (one malloc_trim walks the heap in a few milliseconds).
    """
    gc.collect()
    release_free_memory()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TRIM_EVERY_S)
        release_free_memory()


async def serve_until_stopped(
    service_cls: type[VigilService], settings: Settings, stop: asyncio.Event | None = None
) -> None:
    """Run one service until SIGTERM/SIGINT (or ``stop``)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher = None
    if os.environ.get("VIGIL_CHILD") == "1":
        watcher = asyncio.create_task(_watch_parent(stop))
    async with service_cls(settings) as service:
        service.stopping = stop
        service.spawn(_keep_heap_trim(stop), "heap-trim")
        await stop.wait()
    if watcher:
        watcher.cancel()


def run_main(service_cls: type[VigilService], argv: list[str] | None = None) -> None:
    """Entry point of ``python -m services.<name>`` and ``vigil <name>``."""
    args = service_args(f"vigil {service_cls.name}", sys.argv[1:] if argv is None else argv)
    settings = load_or_exit(args, service_cls.name)
    try:
        asyncio.run(serve_until_stopped(service_cls, settings))
    except (StartupError, BusUnavailable) as exc:
        print(f"vigil {service_cls.name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
