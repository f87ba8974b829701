"""``vigil up``: the embedded broker plus the four services as child processes, supervised.

A child that dies is restarted with exponential backoff (reset after a minute of
good health) and the terminal says so. SIGINT/SIGTERM stop everything: SIGTERM to
each child, SIGKILL after a grace period, the broker last; under 5 s in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from services.core.broker import BrokerError, EmbeddedBroker
from services.core.config import Settings
from services.core.logs import get_logger
from services.core.startup import StartupError, check_port_free, ensure_writable

SERVICES = ("ingest", "analyzer", "alerts", "gateway")
STOP_GRACE_S = 3.0
HEALTHY_AFTER_S = 60.0

log = get_logger("vigil")


@dataclass
class Child:
    """One supervised service process."""

    name: str
    # The service module (``name`` is ``alerts-p1`` for partition 1) and its extra env.
    service: str = ""
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 0.5
    pumps: list[asyncio.Task[None]] = field(default_factory=list)


def _children(settings: Settings, service: str) -> list[Child]:
    """One child per service, or one per partition of a partitioned analyzer or alerts."""
    section = getattr(settings, service, None)
    partitions = getattr(section, "partitions", 1)
    if partitions <= 1:
        return [Child(service)]
    var = f"VIGIL_{service.upper()}_PARTITION"
    return [Child(f"{service}-p{k}", service, {var: str(k)}) for k in range(partitions)]


class Supervisor:
    """Starts, watches and stops the broker and the services."""

    def __init__(
        self,
        settings: Settings,
        *,
        config_path: str | None,
        log_level: str,
        services: tuple[str, ...] = SERVICES,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.log_level = log_level
        self.children = {c.name: c for name in services for c in _children(settings, name)}
        self.broker: EmbeddedBroker | None = None
        self.nats_url = settings.nats.url
        self.stop = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------

    async def run(self) -> None:
        ensure_writable(self.settings.data_path)
        if "gateway" in self.children:
            check_port_free(self.settings.gateway.bind, self.settings.gateway.port)
        loop = asyncio.get_running_loop()
        _watch_children_without_threads(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            if self.settings.nats.embedded:
                await self._start_broker()
            for child in self.children.values():
                await self._spawn(child)
            log.info(
                "vigil is up",
                ui=f"http://{self.settings.gateway.bind}:{self.settings.gateway.port}",
                nats=self.nats_url,
                data=str(self.settings.data_path),
            )
            await self._watch()
        finally:
            await self._shutdown()

    async def _start_broker(self) -> None:
        broker = EmbeddedBroker(
            self.settings.data_path,
            port=self.settings.nats.port,
            mqtt_port=self.settings.nats.mqtt_port,
            server_name=f"vigil-{self.settings.host}",
            memory_limit_mb=self.settings.nats.memory_limit_mb,
        )
        self.nats_url = await broker.start()
        self.broker = broker
        log.info("nats-server ready", url=self.nats_url)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["VIGIL_NATS_URL"] = self.nats_url
        env["VIGIL_CHILD"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        if self.config_path:
            env["VIGIL_CONFIG"] = self.config_path
        return env

    async def _spawn(self, child: Child) -> None:
        module = f"services.{child.service or child.name}"
        args = [sys.executable, "-m", module, "--log-level", self.log_level]
        child.proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**self._child_env(), **child.env},
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.pumps = [asyncio.create_task(self._pump(child, child.proc))]
        log.info("started service", service=child.name, pid=child.proc.pid)

    async def _pump(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        """Copy the child's output to our terminal, each line prefixed by the service."""
        assert proc.stdout is not None
        prefix = f"{child.name:<8} | ".encode()
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            sys.stderr.buffer.write(prefix + line)
            sys.stderr.buffer.flush()

    async def _watch(self) -> None:
        while not self.stop.is_set():
            waits = {
                asyncio.ensure_future(c.proc.wait()): c
                for c in self.children.values()
                if c.proc is not None
            }
            stop_wait = asyncio.ensure_future(self.stop.wait())
            broker_wait = None
            if self.broker and self.broker.proc:
                broker_wait = asyncio.ensure_future(self.broker.proc.wait())
            pending = {stop_wait, *waits, *([broker_wait] if broker_wait else [])}
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending - done:
                fut.cancel()
            if self.stop.is_set():
                return
            if broker_wait is not None and broker_wait in done:
                log.error("nats-server exited; restarting it")
                await asyncio.sleep(0.5)
                try:
                    await self._start_broker()
                except BrokerError as exc:
                    log.error("nats-server restart failed", error=str(exc))
                    await asyncio.sleep(2.0)
            for fut in done:
                child = waits.get(fut)
                if child is not None:
                    await self._restart(child, fut.result())

    async def _restart(self, child: Child, code: int) -> None:
        healthy = time.monotonic() - child.started_at > HEALTHY_AFTER_S
        if healthy:
            child.backoff_s = 0.5
        delay = child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, 30.0)
        child.restarts += 1
        how = f"signal {-code}" if code < 0 else f"code {code}"
        log.error(
            f"{child.name} exited with {how}; restarting in {delay:.1f} s",
            service=child.name,
            restarts=child.restarts,
        )
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
            return
        except TimeoutError:
            pass
        await self._spawn(child)

    async def _shutdown(self) -> None:
        procs = [c.proc for c in self.children.values() if c.proc and c.proc.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for child in self.children.values():
            for pump in child.pumps:
                pump.cancel()
        if self.broker:
            await self.broker.stop(timeout=1.5)
        if procs or self.broker:
            log.info("vigil stopped")


def _watch_children_without_threads(loop: asyncio.AbstractEventLoop) -> None:
    """Wait for the children on pidfds polled by the loop, not one thread per child.

    Python 3.11's default watcher blocks a thread in waitpid() for each child (five at
    least, each with its stack and, once it allocates, a malloc arena); 3.12+ uses
    pidfds by itself. Kernels before 5.3 (no pidfd_open) keep the default.
    """
    if sys.version_info >= (3, 12):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    asyncio.set_child_watcher(watcher)


def run_up(settings: Settings, config_path: str | None, log_level: str) -> int:
    """Run the whole stack in the foreground; returns the process exit code."""
    try:
        asyncio.run(Supervisor(settings, config_path=config_path, log_level=log_level).run())
    except (BrokerError, StartupError) as exc:
        print(f"vigil up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
