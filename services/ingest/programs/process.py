"""OS-level helpers: launch a program (argv only, own session, output to the pump),
wait for the end of a process that is not our child, signal it, sample its resources."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from services.core.config.programs import ProgramSpec

PUMP = Path(__file__).with_name("pump.py")


@dataclass
class Launched:
    """A program process Vigil just started, and the pump copying its output."""

    proc: asyncio.subprocess.Process
    pump: asyncio.subprocess.Process | None
    create_time: float


def program_env(spec: ProgramSpec) -> dict[str, str]:
    """Ingest's environment without Vigil's own launcher variables, plus the program's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(spec.env)
    return env


async def launch(spec: ProgramSpec, executable: str, out_dir: Path) -> Launched:
    """Start the program in its own session; argv is passed as is, never through a shell."""
    read_end, write_end = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            executable=executable,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_end,
            stderr=write_end,
            cwd=spec.cwd or None,
            env=program_env(spec),
            start_new_session=True,
        )
        os.close(write_end)
        write_end = -1
        try:
            pump = await _start_pump(spec, out_dir, read_end)
        except OSError:
            # Without its reader the program would die of SIGPIPE later: end it now, say why.
            send(proc.pid, signal.SIGKILL, group=True)
            await proc.wait()
            raise
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    return Launched(proc, pump, create_time(proc.pid) or 0.0)


async def _start_pump(
    spec: ProgramSpec, out_dir: Path, read_end: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        str(PUMP),
        str(out_dir),
        str(spec.output_max_bytes),
        str(spec.output_backups),
        stdin=read_end,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


def create_time(pid: int) -> float | None:
    """The process's start time as psutil sees it (None when gone): with the pid, its identity."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def same_process(pid: int, created: float) -> bool:
    """True when ``pid`` still names the process that started at ``created`` (not a reuse)."""
    actual = create_time(pid)
    return actual is not None and abs(actual - created) < 0.05 and alive(pid)


def send(pid: int, sig: int, *, group: bool) -> bool:
    """Signal a process (or its whole process group); False when it is already gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        if group:  # the group may hold a process we may not signal: try the leader alone
            return send(pid, sig, group=False)
        raise


async def wait_gone(pid: int, poll_s: float = 0.25) -> None:
    """Return when a process that is not our child ends (pidfd when the OS has it)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    if fd < 0:
        while alive(pid):
            await asyncio.sleep(poll_s)
        return
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, readable)
    try:
        # A zombie never becomes "readable" again for a late reader: check once after arming.
        if not alive(pid):
            return
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)


class ResourceSampler:
    """CPU %, RSS and threads per pid; keeps psutil handles so CPU % spans the interval."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pid: int) -> tuple[float, float, int] | None:
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)  # first call primes the counter
            with proc.oneshot():
                cpu = proc.cpu_percent(None)
                rss_mb = proc.memory_info().rss / 1_048_576
                threads = proc.num_threads()
            return cpu, rss_mb, threads
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None

    def forget_except(self, pids: set[int]) -> None:
        for pid in list(self._procs):
            if pid not in pids:
                del self._procs[pid]


async def reap(proc: asyncio.subprocess.Process | None, timeout: float) -> None:
    """Wait a little for a helper process to end; never raise."""
    if proc is None:
        return
    with contextlib.suppress(TimeoutError, ProcessLookupError):
        await asyncio.wait_for(proc.wait(), timeout)


SIGKILL = signal.SIGKILL
