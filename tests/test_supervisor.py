"""`vigil up` as a user runs it: real broker, four real service processes, kill and stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port


class Stack:
    """A `vigil up` child process whose output is collected line by line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, needle: str, timeout: float = 60.0, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(f"no line with {needle!r}; last output:\n{tail}")
                self._cond.wait(min(left, 0.2))


def _env(tmp_path: Path, nats_port: int, http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATA_DIR=str(tmp_path / "data"),
        VIGIL_NATS_PORT=str(nats_port),
        VIGIL_GATEWAY_PORT=str(http_port),
        VIGIL_CONFIG=str(tmp_path / "vigil.toml"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    env = _env(tmp_path, free_port(), free_port())
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.core.cli", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    s = Stack(proc)
    s.env = env  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _service_pids(stack: Stack) -> dict[str, int]:
    pids = {}
    for child in psutil.Process(stack.proc.pid).children():
        cmd = " ".join(child.cmdline())
        for name in ("ingest", "analyzer", "alerts", "gateway"):
            if f"services.{name}" in cmd:
                pids[name] = child.pid
    return pids


@pytest.mark.slow
def test_up_status_kill_restart_and_clean_stop(stack: Stack) -> None:
    stack.wait_line("vigil is up")
    # The supervisor opens no TLS: its loop runs without ssl (libssl + libcrypto ~4 MB RSS).
    assert "libssl" not in Path(f"/proc/{stack.proc.pid}/maps").read_text()
    for name in ("ingest", "analyzer", "alerts", "gateway"):
        stack.wait_line(f"{name} started", timeout=30)
    # The children are waited for on pidfds by the loop, not by a thread each (issue 10).
    assert psutil.Process(stack.proc.pid).num_threads() == 1
    status = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "status"],
        capture_output=True,
        text=True,
        env=stack.env,  # type: ignore[attr-defined]
        timeout=30,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("nats", "ingest", "analyzer", "alerts", "gateway"):
        assert any(line.startswith(name) and " up " in line for line in status.stdout.splitlines())

    before = _service_pids(stack)
    mark = len(stack.lines)
    os.kill(before["analyzer"], signal.SIGKILL)
    stack.wait_line("analyzer exited with signal 9; restarting", after=mark)
    stack.wait_line("analyzer started", after=mark, timeout=30)
    after = _service_pids(stack)
    assert after["analyzer"] != before["analyzer"]
    assert after["ingest"] == before["ingest"]

    everything = [stack.proc.pid, *after.values()]
    everything += [p.pid for p in psutil.Process(stack.proc.pid).children(recursive=True)]
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=30) == 0
    stack.wait_line("vigil stopped")
    alive = [pid for pid in everything if psutil.pid_exists(pid) and _not_zombie(pid)]
    assert alive == [], f"orphans left: {alive}"


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _run_up(tmp_path: Path, env_extra: dict[str, str], nats_port: int, http_port: int) -> str:
    env = _env(tmp_path, nats_port, http_port)
    env.update(env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "up"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()


def test_http_port_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _run_up(tmp_path, {}, free_port(), port)
    assert err.splitlines() == [f"vigil up: port {port} on 127.0.0.1 is already in use"]


def test_nats_port_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _run_up(tmp_path, {}, port, free_port())
    assert len(err.splitlines()) == 1
    assert f"port 127.0.0.1:{port} is already in use" in err


def test_unwritable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    err = _run_up(tmp_path, {"VIGIL_DATA_DIR": str(blocker / "data")}, free_port(), free_port())
    assert len(err.splitlines()) == 1
    assert "is not writable" in err and str(blocker) in err


def test_unreachable_nats_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path, free_port(), free_port())
    env.update(
        VIGIL_NATS_URL=f"nats://127.0.0.1:{free_port()}", VIGIL_NATS_CONNECT_DEADLINE_S="1.5"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "analyzer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("vigil analyzer: NATS unreachable at nats://127.0.0.1:")
