"""Run the whole stack (`vigil up`) in a temporary data dir and read its processes' memory."""

from __future__ import annotations

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
        """nats-server and the four services by name."""
        found: dict[str, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
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


@contextlib.contextmanager
def running_stack(ready_timeout: float = 90.0) -> Iterator[Stack]:
    """Start `vigil up` on free ports; yield once all five processes exist and have settled."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        root = Path(tmp)
        watch = root / "watch"
        watch.mkdir()
        (root / "vigil.toml").write_text(
            f'data_dir = "{root / "data"}"\n[[ingest.sources]]\nname = "work"\npath = "{watch}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update(
            VIGIL_CONFIG=str(root / "vigil.toml"),
            VIGIL_NATS_PORT=str(_free_port()),
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
            while len(stack.processes()) < 5:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the stack did not come up")
                time.sleep(0.5)
            time.sleep(8.0)  # let start-up allocations settle before reading "idle"
            yield stack
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
