"""One program's supervisor: launch, watch for its end, restart policy with backoff, stop.

A long-lived task per program owns the process; commands set what is wanted and
wake it, then wait for the state they asked for. Every state change is reported at
once through ``RunnerContext.on_status`` (so ProgramStatus goes out within a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.core.config.programs import ProgramSpec
from services.core.contracts import ProgramExited, ProgramState
from services.core.tasks import stop_tasks
from services.ingest.programs import process as osproc
from services.ingest.programs.history import ProgramHistory
from services.ingest.programs.matcher import find_process
from services.ingest.programs.output import output_dir
from services.ingest.programs.store import ProgramStore, Runtime
from services.ingest.programs.validate import SpecError, parse_signal, resolve_executable

Result = Literal["done", "already", "failed"]
IDLE_STATES = {"stopped", "exited", "crashed", "failed", "unknown"}


@dataclass
class RunnerContext:
    """What a runner needs from the manager."""

    host: str
    data_dir: Path
    store: ProgramStore
    on_status: Callable[[ProgramRunner], None]
    on_exit: Callable[[ProgramExited], None]
    poll_s: float = 0.5


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown (not a child of this ingest)"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class ProgramRunner:
    """Supervises one program (started by Vigil, adopted, or matched)."""

    def __init__(self, spec: ProgramSpec, ctx: RunnerContext, origin: str = "config") -> None:
        self.spec = spec
        self.ctx = ctx
        self.origin = origin
        self.state: ProgramState = "unknown" if spec.matched else "stopped"
        self.reason = ""
        self.pid: int | None = None
        self.owned = False
        self.created = 0.0
        self.started_at = 0.0
        self.restart_count = 0
        self.retries = 0
        self.last_exit_code: int | None = None
        self.sample = (0.0, 0.0, 0)
        self.history = ProgramHistory()
        self.launches = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.subprocess.Process | None = None
        self._started_mono = 0.0
        self._want_running = False
        self._stop_requested = False
        self._stop_reason = ""
        self._pending_restart = False
        self._backoff_until = 0.0
        self._wake = asyncio.Event()
        self._watchers: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._reapers: set[asyncio.Future[None]] = set()
        self._launching = False

    # -- lifecycle -------------------------------------------------------------

    def begin(self, adopt: Runtime | None) -> None:
        """Adopt a still-running process from a previous ingest, then start supervising."""
        if adopt is not None:
            self._attach(adopt.pid, adopt.create_time, owned=True, started_at=adopt.started_at)
            self.restart_count = adopt.restart_count
            self.last_exit_code = adopt.last_exit_code
            self._want_running = True
            self._set("running", "adopted after an ingest restart")
        elif self.spec.argv and self.spec.autostart:
            self._want_running = True
        self._task = asyncio.create_task(self._loop(), name=f"program:{self.spec.id}")

    async def detach(self) -> None:
        """Stop supervising but leave the process running (adopted by the next ingest)."""
        if self._task is not None:
            await stop_tasks([self._task])
        if self._reapers:  # pumps of ended runs finish at end of input: let them be reaped
            await asyncio.wait(self._reapers, timeout=1.0)

    @property
    def output(self) -> Path:
        return output_dir(self.ctx.data_dir, self.spec.id)

    def uptime(self) -> float:
        return max(0.0, time.time() - self.started_at) if self.pid else 0.0

    # -- state -----------------------------------------------------------------

    def _set(self, state: ProgramState, reason: str = "") -> None:
        self.state, self.reason = state, reason
        for fut in self._watchers:
            if not fut.done():
                fut.set_result(None)
        self._watchers.clear()
        self.ctx.on_status(self)

    async def _wait_until(self, pred: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not pred():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            fut: asyncio.Future[None] = loop.create_future()
            self._watchers.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)
        return True

    def _attach(self, pid: int, created: float, *, owned: bool, started_at: float) -> None:
        self.pid, self.created, self.owned, self.started_at = pid, created, owned, started_at
        self._started_mono = time.monotonic() - max(0.0, time.time() - started_at)

    # -- the supervising loop --------------------------------------------------

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _loop(self) -> None:
        while True:
            if self.pid is not None:
                await self._watch_exit()
                continue
            if self.spec.matched:
                found = await asyncio.to_thread(find_process, self.spec.match)
                if found is not None:
                    self._attach(
                        found,
                        osproc.create_time(found) or 0.0,
                        owned=False,
                        started_at=osproc.create_time(found) or time.time(),
                    )
                    self._set("running", "matched a running process")
                    continue
            if self._want_running and self.spec.argv:
                wait = self._backoff_until - time.monotonic()
                if wait > 0:
                    await self._sleep(wait)
                    continue
                await self._launch()
                continue
            if self.spec.matched and self.state not in {"stopped", "exited", "crashed"}:
                self._set("stopped", "no process matches the rule")
            await self._sleep(max(1.0, self.ctx.poll_s) if self.spec.matched else None)

    async def _launch(self) -> None:
        self._launching = True
        try:
            await self._launch_once()
        finally:
            self._launching = False

    async def _launch_once(self) -> None:
        try:
            exe = resolve_executable(self.spec)
            launched = await osproc.launch(self.spec, exe, self.output)
        except SpecError as exc:
            self._fail_launch(str(exc))
            return
        except OSError as exc:
            self._fail_launch(f"cannot start {self.spec.argv[0]}: {exc.strerror or exc}")
            return
        self.launches += 1
        if self._pending_restart:
            self.restart_count += 1
            self._pending_restart = False
        self._proc, self._pump = launched.proc, launched.pump
        self._attach(launched.proc.pid, launched.create_time, owned=True, started_at=time.time())
        self.ctx.store.save_runtime(
            self.spec.id,
            Runtime(
                self.pid or 0,
                self.created,
                self.started_at,
                self.restart_count,
                self.last_exit_code,
            ),
        )
        self._set("starting", "")

    def _fail_launch(self, reason: str) -> None:
        self.launches += 1
        self._want_running = False
        self._pending_restart = False
        self._set("failed", reason)

    async def _exit_code(self) -> int | None:
        if self._proc is not None:
            return await self._proc.wait()
        assert self.pid is not None
        await osproc.wait_gone(self.pid, self.ctx.poll_s)
        return None

    async def _watch_exit(self) -> None:
        ended = asyncio.ensure_future(self._exit_code())
        try:
            if self.state == "starting":
                done, _ = await asyncio.wait({ended}, timeout=self.spec.start_secs)
                if not done and self.state == "starting":
                    self._set("running", "")
            code = await ended
        finally:
            ended.cancel()
        await self._exited(code)

    async def _exited(self, code: int | None) -> None:
        pid = self.pid
        runtime = time.monotonic() - self._started_mono
        asked, owned = self._stop_requested, self.owned
        self.pid, self._proc, self._stop_requested = None, None, False
        self.last_exit_code = code
        pump, self._pump = self._pump, None
        if pump is not None:
            reaper = asyncio.ensure_future(osproc.reap(pump, 5.0))
            self._reapers.add(reaper)
            reaper.add_done_callback(self._reapers.discard)
        if owned:
            self.ctx.store.forget_runtime(self.spec.id)
        what = describe_exit(code)
        if asked:
            self._report_exit(pid, code, True, self._stop_reason or "stopped on request")
            self._set("stopped", f"{self._stop_reason or 'stopped on request'} ({what})")
            return
        expected = code is not None and code >= 0 and code in self.spec.exit_codes
        reason = f"{what} after {runtime:.1f} s"
        self._report_exit(pid, code, expected, reason)
        state: ProgramState = "exited" if expected else "crashed"
        if not self.spec.argv:
            self._set(state, reason)
            return
        policy = self.spec.restart
        restart = policy == "always" or (policy == "on-failure" and not expected)
        if runtime >= self.spec.reset_after_s:
            self.retries = 0
        if not restart:
            self._want_running = False
            if runtime < self.spec.start_secs and not expected:
                self._set("failed", f"exited at once: {what}, {runtime:.2f} s after start")
            else:
                self._set(state, reason)
            return
        if self.retries >= self.spec.max_retries:
            self._want_running = False
            self._set(
                "failed",
                f"restart limit reached: {self.retries} restarts in a row; last run: {reason}",
            )
            return
        delay = min(self.spec.backoff_initial_s * 2**self.retries, self.spec.backoff_max_s)
        self.retries += 1
        self._pending_restart = True
        self._backoff_until = time.monotonic() + delay
        self._set(
            state,
            f"{reason}; restarting in {delay:g} s (retry {self.retries}/{self.spec.max_retries})",
        )

    def _report_exit(self, pid: int | None, code: int | None, expected: bool, why: str) -> None:
        self.ctx.on_exit(
            ProgramExited(
                program_id=self.spec.id,
                host=self.ctx.host,
                pid=pid,
                exit_code=code if code is not None and code >= 0 else None,
                signal=-code if code is not None and code < 0 else None,
                expected=expected,
                reason=why,
                ts=time.time(),
            )
        )

    # -- commands --------------------------------------------------------------

    async def start(self) -> tuple[Result, str]:
        async with self._lock:
            return await self._start()

    async def _start(self) -> tuple[Result, str]:
        if self.pid is not None:
            return "already", f"already running (pid {self.pid})"
        if not self.spec.argv:
            return "failed", "watched only: Vigil has no argv to start this program"
        if self._task is None:  # the definition was refused at load time
            return "failed", f"{self.state}: {self.reason}"
        before = self.launches
        self._want_running, self.retries, self._backoff_until = True, 0, 0.0
        self._wake.set()
        settle = min(self.spec.start_secs, 3.0) + 2.0
        await self._wait_until(lambda: self.launches > before and self.state != "starting", settle)
        if self.state in ("running", "starting"):
            return "done", f"{self.state} (pid {self.pid})"
        return "failed", f"{self.state}: {self.reason}"

    async def stop(self, timeout: float | None = None) -> tuple[Result, str]:
        async with self._lock:
            return await self._stop(timeout)

    async def _stop(self, timeout: float | None) -> tuple[Result, str]:
        # A launch in flight ends in "starting" or "failed": stop what it started, not before.
        await self._wait_until(lambda: not self._launching, 10.0)
        was_waiting = self._want_running and self.pid is None
        self._want_running, self._pending_restart = False, False
        if self.pid is None:
            if was_waiting:
                self._wake.set()
                self._set("stopped", "stopped on request (pending restart cancelled)")
                return "done", "pending restart cancelled"
            return "already", f"not running ({self.state})"
        timeout = self.spec.stop_timeout_s if timeout is None else timeout
        sig = parse_signal(self.spec.stop_signal)
        pid = self.pid
        self._stop_requested, self._stop_reason = True, f"stopped on request ({sig.name})"
        self._set("stopping", f"sent {sig.name}")
        osproc.send(pid, sig, group=self.owned)
        if not await self._wait_until(lambda: self.pid != pid, timeout):
            self._stop_reason = f"killed after the {timeout:g} s stop timeout"
            osproc.send(pid, osproc.SIGKILL, group=self.owned)
            if not await self._wait_until(lambda: self.pid != pid, 5.0):
                return "failed", f"pid {pid} did not end after SIGKILL"
        return "done", self.reason

    async def restart(self) -> tuple[Result, str]:
        async with self._lock:
            if self.pid is not None or self._want_running:
                result, detail = await self._stop(None)
                if result == "failed":
                    return result, detail
            return await self._start()
