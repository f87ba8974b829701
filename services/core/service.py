"""The shape every Vigil service shares: an async context manager on an AsyncExitStack.

``run_main(ServiceClass)`` is what each ``services/<name>/__main__.py`` calls: it
parses the command line, builds Settings once, sets up logging, and runs the
service until SIGTERM/SIGINT, turning start-up failures into one readable line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, ClassVar

from services.core import contracts
from services.core.bus import Bus, BusUnavailable
from services.core.config import ConfigError, Settings, load_settings
from services.core.logs import get_logger, setup_logging


class StartupError(Exception):
    """A service cannot start; the message is one line for a person."""


def ensure_writable(path: os.PathLike[str] | str) -> None:
    """Create ``path`` if needed and prove we can write in it."""
    from pathlib import Path

    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".vigil-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StartupError(
            f"data directory {folder} is not writable: {exc.strerror or exc}"
        ) from None


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
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

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
        await stop.wait()
    if watcher:
        watcher.cancel()


def base_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", help="path to vigil.toml (default: ./vigil.toml)")
    parser.add_argument("--log-level", help="debug, info, warning or error")
    return parser


def load_or_exit(args: argparse.Namespace, service: str, *, uses_data: bool = True) -> Settings:
    """Settings from the command line's config, or one line on stderr and a non-zero exit."""
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"vigil {service}: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = args.log_level or settings.log.level
    if level.lower() not in {"debug", "info", "warning", "error"}:
        print(f"vigil {service}: --log-level: expected debug|info|warning|error", file=sys.stderr)
        raise SystemExit(2)
    if uses_data:
        try:
            ensure_writable(settings.data_path)
        except StartupError as exc:
            print(f"vigil {service}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    setup_logging(
        service,
        level,
        settings.data_path / "logs" if uses_data else None,
        max_bytes=settings.log.file_max_bytes,
        backups=settings.log.file_backups,
    )
    return settings


def run_main(service_cls: type[VigilService], argv: list[str] | None = None) -> None:
    """Entry point of ``python -m services.<name>`` and ``vigil <name>``."""
    args = base_parser(f"vigil {service_cls.name}").parse_args(argv)
    settings = load_or_exit(args, service_cls.name)
    try:
        asyncio.run(serve_until_stopped(service_cls, settings))
    except (StartupError, BusUnavailable) as exc:
        print(f"vigil {service_cls.name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
