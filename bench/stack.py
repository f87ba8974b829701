"""Run the whole stack (`vigil up`) in a temporary data dir and read its processes' memory.

"The stack" is every process `vigil up` runs: the supervisor itself, nats-server and the
four services. RSS counts shared pages (libpython, libcrypto, the .so files) in every
process, so `memory()` also gives PSS (shared pages divided among their users) and USS
(pages only that process holds) as a note beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Stack:
    """A running `vigil up` and where it writes."""

    proc: subprocess.Popen[bytes]
    root: Path
    watch: Path
    env: dict[str, str]

    def processes(self) -> dict[str, psutil.Process]:
        """The supervisor (`vigil up`), nats-server and the four services by name."""
        found: dict[str, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            supervisor = psutil.Process(self.proc.pid)
            found["supervisor"] = supervisor
            for child in supervisor.children(recursive=True):
                cmd = " ".join(child.cmdline())
                if "nats-server" in cmd:
                    found["nats-server"] = child
                for name in ("ingest", "analyzer", "alerts", "gateway"):
                    if f"services.{name}" in cmd:
                        found[name] = child
        return found

    def rss_mb(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, proc in self.processes().items():
            with contextlib.suppress(psutil.NoSuchProcess):
                out[name] = proc.memory_info().rss / (1 << 20)
        return out

    def memory(self) -> dict[str, Memory]:
        """RSS, PSS and USS of each process, in MB (PSS/USS read /proc/PID/smaps)."""
        out: dict[str, Memory] = {}
        for name, proc in self.processes().items():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                full = proc.memory_full_info()
                mb = 1 << 20
                out[name] = Memory(full.rss / mb, getattr(full, "pss", 0.0) / mb, full.uss / mb)
        return out


@dataclass(frozen=True)
class Memory:
    """One process's memory in MB."""

    rss: float
    pss: float
    uss: float


async def _healthy(nats_url: str, timeout: float) -> None:
    """Wait until each service answers its health request (it is started and serving)."""
    import nats

    from services.core import contracts

    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, connect_timeout=2)
    try:
        deadline = time.monotonic() + timeout
        for name in SERVICES:
            while True:
                try:
                    await nc.request(contracts.api(name, "health"), b"{}", timeout=1.0)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not become healthy") from None
                    await asyncio.sleep(0.3)
    finally:
        await nc.close()


SERVICES = ("ingest", "analyzer", "alerts", "gateway")
SETTLE_S = 5.0


@contextlib.contextmanager
def running_stack(ready_timeout: float = 90.0) -> Iterator[Stack]:
    """Start `vigil up` on free ports; yield once every service answers its health request
    and a few seconds have passed (first collector rounds, start-up work finished)."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        root = Path(tmp)
        watch = root / "watch"
        watch.mkdir()
        (root / "vigil.toml").write_text(
            f'data_dir = "{root / "data"}"\n[[ingest.sources]]\nname = "work"\npath = "{watch}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        nats_port = _free_port()
        env.update(
            VIGIL_CONFIG=str(root / "vigil.toml"),
            VIGIL_NATS_PORT=str(nats_port),
            VIGIL_GATEWAY_PORT=str(_free_port()),
            VIGIL_LOG_LEVEL="warning",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.core.cli", "up"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack = Stack(proc, root, watch, env)
        try:
            deadline = time.monotonic() + ready_timeout
            while len(stack.processes()) < 2 + len(SERVICES):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the stack did not come up")
                time.sleep(0.5)
            left = max(1.0, deadline - time.monotonic())
            asyncio.run(_healthy(f"nats://127.0.0.1:{nats_port}", left))
            time.sleep(SETTLE_S)  # "idle": after start-up work, not in the middle of it
            yield stack
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
