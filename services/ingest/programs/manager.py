"""The program manager: builds runners from vigil.toml and the database, adopts survivors,
publishes status/exits/samples, answers commands on ``vigil.cmd.program.<id>.<action>``.

Commands carry no host in the subject, so every ingest subscribes without a queue group
and only the ingest that has the program registered answers; program ids are therefore
meant to be unique across hosts (a command for an unknown id times out at the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.core.config.programs import ProgramSpec
from services.core.logs import get_logger
from services.core.tasks import stop_tasks
from services.ingest.programs import process as osproc
from services.ingest.programs.runner import ProgramRunner, Result, RunnerContext
from services.ingest.programs.store import ProgramStore
from services.ingest.programs.validate import SpecError, check_static

ACTIONS = ("start", "stop", "restart")
# `vigil up` SIGKILLs ingest 3 s after SIGTERM: children get at most this long to stop.
SHUTDOWN_STOP_BUDGET_S = 1.8
MAX_OUTBOX = 10_000
HEARTBEAT_S = 60.0  # a status snapshot at least this often, even when nothing changed

log = get_logger("ingest")


def status_event(runner: ProgramRunner, host: str) -> contracts.ProgramStatus:
    cpu, rss, threads = runner.sample if runner.pid else (0.0, 0.0, 0)
    return contracts.ProgramStatus(
        program_id=runner.spec.id,
        host=host,
        state=runner.state,
        pid=runner.pid,
        cpu_percent=round(cpu, 2),
        rss_mb=round(rss, 2),
        threads=threads,
        uptime_s=round(runner.uptime(), 1),
        restart_count=runner.restart_count,
        last_exit_code=runner.last_exit_code,
        reason=runner.reason,
        ts=time.time(),
    )


def _visible(event: contracts.ProgramStatus) -> tuple[Any, ...]:
    """What the UI shows, rounded: CPU to whole percent, memory to whole MB."""
    return (
        event.state,
        event.pid,
        event.restart_count,
        round(event.cpu_percent),
        round(event.rss_mb),
        event.threads,
    )


class ProgramManager:
    """All programs of this host."""

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.cfg = settings.ingest.programs
        self.host = settings.host
        self.data_dir = settings.data_path
        self.bus = bus
        self.store = ProgramStore(self.data_dir)
        self.runners: dict[str, ProgramRunner] = {}
        self.config_ids: set[str] = set()
        self._outbox: asyncio.Queue[tuple[str, msgspec.Struct, str | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._commands: set[asyncio.Task[None]] = set()
        self._sub: Subscription | None = None
        self.sampler = osproc.ResourceSampler()
        self._last_sent: dict[str, tuple[tuple[Any, ...], float]] = {}

    def _context(self) -> RunnerContext:
        return RunnerContext(
            host=self.host,
            data_dir=self.data_dir,
            store=self.store,
            on_status=self._status_changed,
            on_exit=self._exited,
            poll_s=self.cfg.poll_interval_s,
        )

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self.store.start()
        specs: list[tuple[ProgramSpec, str]] = []
        for spec in self.cfg.program:
            if spec.id in self.config_ids:
                log.error("duplicate program id in vigil.toml; ignored", program=spec.id)
                continue
            self.config_ids.add(spec.id)
            specs.append((spec, "config"))
        for program_id, stored in self.store.load_programs():
            if program_id in self.config_ids:
                log.warning("API program shadowed by vigil.toml", program=program_id)
            elif isinstance(stored, str):
                log.error("stored program unreadable", program=program_id, error=stored)
            else:
                specs.append((stored, "api"))
        runtimes = self.store.load_runtimes()
        for spec, origin in specs:
            runtime = runtimes.pop(spec.id, None)
            if runtime and not osproc.same_process(runtime.pid, runtime.create_time):
                self.store.forget_runtime(spec.id)
                runtime = None
            self._add(spec, origin, runtime)
        for stale in runtimes:
            self.store.forget_runtime(stale)
        self._tasks.append(asyncio.create_task(self._publisher(), name="programs-publisher"))
        self._tasks.append(asyncio.create_task(self._sample_loop(), name="programs-sampler"))
        self._sub = await self.bus.nc.subscribe("vigil.cmd.program.*.*", cb=self._on_command)
        log.info("programs supervised", count=len(self.runners), mode=self.cfg.on_ingest_stop)

    def _add(self, spec: ProgramSpec, origin: str, adopt: Any = None) -> ProgramRunner:
        runner = ProgramRunner(spec, self._context(), origin)
        self.runners[spec.id] = runner
        try:
            check_static(spec)
        except SpecError as exc:
            runner._set("failed", str(exc))
            return runner
        runner.begin(adopt)
        if adopt is not None:
            log.info("adopted program", program=spec.id, pid=adopt.pid)
        return runner

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        for task in list(self._commands):
            task.cancel()
        runners = list(self.runners.values())
        if self.cfg.on_ingest_stop == "stop":
            await asyncio.gather(
                *(
                    r.stop(timeout=min(r.spec.stop_timeout_s, SHUTDOWN_STOP_BUDGET_S))
                    for r in runners
                    if r.owned and r.pid is not None
                ),
                return_exceptions=True,
            )
        await asyncio.gather(*(r.detach() for r in runners), return_exceptions=True)
        # Let exits and final states reach NATS, briefly: shutdown is on a clock.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain_outbox(), 0.5)
        await stop_tasks(self._tasks)
        await self.store.close()

    # -- registry changes (API) ------------------------------------------------

    async def put(self, spec: ProgramSpec) -> ProgramRunner:
        if spec.id in self.config_ids:
            raise SpecError(f"program {spec.id} is defined in vigil.toml; change it there")
        check_static(spec)
        old = self.runners.get(spec.id)
        if old is not None:
            await self._remove(old)
        self.store.save_program(spec)
        await self.store.flush()
        return self._add(spec, "api")

    async def delete(self, program_id: str) -> bool:
        runner = self.runners.get(program_id)
        if runner is None:
            return False
        if runner.origin == "config":
            raise SpecError(f"program {program_id} is defined in vigil.toml; remove it there")
        await self._remove(runner)
        self.store.forget_program(program_id)
        await self.store.flush()
        return True

    async def _remove(self, runner: ProgramRunner) -> None:
        if runner.owned and runner.pid is not None:
            await runner.stop()
        await runner.detach()
        self.runners.pop(runner.spec.id, None)

    # -- publishing ------------------------------------------------------------

    def _status_changed(self, runner: ProgramRunner) -> None:
        event = status_event(runner, self.host)
        self._last_sent[runner.spec.id] = (_visible(event), time.monotonic())
        self._enqueue(contracts.program_status(runner.spec.id), event, None)

    def _snapshot(self, runner: ProgramRunner, now: float) -> None:
        """A periodic status when what a person sees changed, else one a minute (the stream
        keeps them for days: a snapshot per sample per program would be most of its bytes)."""
        event = status_event(runner, self.host)
        seen, at = self._last_sent.get(runner.spec.id, ((), 0.0))
        visible = _visible(event)
        if visible == seen and time.monotonic() - at < HEARTBEAT_S:
            return
        self._last_sent[runner.spec.id] = (visible, time.monotonic())
        self._enqueue(contracts.program_status(runner.spec.id), event, None)

    def _exited(self, event: contracts.ProgramExited) -> None:
        msg_id = f"{self.host}:{event.program_id}:{event.pid}:{event.ts:.6f}"
        self._enqueue(contracts.program_exited(event.program_id), event, msg_id)
        level = log.info if event.expected else log.warning
        level("program exited", program=event.program_id, pid=event.pid, reason=event.reason)

    def _enqueue(self, subject: str, event: msgspec.Struct, msg_id: str | None) -> None:
        if self._outbox.qsize() >= MAX_OUTBOX and msg_id is None:
            return  # NATS has been away long: drop status snapshots, keep exits
        self._outbox.put_nowait((subject, event, msg_id))

    async def _publisher(self) -> None:
        while True:
            subject, event, msg_id = await self._outbox.get()
            try:
                await self._send(subject, event, msg_id)
            finally:
                self._outbox.task_done()

    async def _send(self, subject: str, event: msgspec.Struct, msg_id: str | None) -> None:
        try:
            if msg_id is None:
                await self.bus.emit(subject, event)
            else:
                await self.bus.publish_retrying(subject, event, msg_id=msg_id)
        except Exception as exc:  # never let one publish failure stop the outbox
            log.warning("program event not published", subject=subject, error=repr(exc)[:200])

    async def _drain_outbox(self) -> None:
        await self._outbox.join()
        with contextlib.suppress(Exception):
            await self.bus.nc.flush(timeout=1)

    async def _sample_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.sample_interval_s)
            self.sample_now()

    def sample_now(self) -> None:
        """Sample every program's resources; publish status snapshots and a MetricBatch."""
        now = time.time()
        samples: list[contracts.MetricSample] = []
        live: set[int] = set()
        for runner in self.runners.values():
            cpu, rss, threads = 0.0, 0.0, 0
            if runner.pid is not None:
                live.add(runner.pid)
                got = self.sampler.sample(runner.pid)
                if got is not None:
                    cpu, rss, threads = got
            runner.sample = (cpu, rss, threads)
            up = runner.pid is not None and runner.state in ("running", "starting")
            runner.history.add(now, cpu, rss, threads, up)
            labels = {"program": runner.spec.id}
            samples += [
                contracts.MetricSample(name="program.cpu_percent", value=cpu, labels=labels),
                contracts.MetricSample(name="program.rss_mb", value=rss, labels=labels),
                contracts.MetricSample(name="program.threads", value=threads, labels=labels),
                contracts.MetricSample(name="program.up", value=1.0 if up else 0.0, labels=labels),
            ]
            self._snapshot(runner, now)
        self.sampler.forget_except(live)
        if samples:
            batch = contracts.MetricBatch(host=self.host, group="program", ts=now, samples=samples)
            self._enqueue(contracts.metric(self.host, "program"), batch, None)

    # -- commands --------------------------------------------------------------

    async def _on_command(self, msg: Msg) -> None:
        parts = msg.subject.split(".")
        if len(parts) != 5 or not msg.reply:
            return
        runner = self.runners.get(parts[3])
        if runner is None:
            return  # not ours: the host that has it answers
        task = asyncio.create_task(self._answer(msg, runner, parts[4]))
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _answer(self, msg: Msg, runner: ProgramRunner, action: str) -> None:
        reply = await self.command(runner, action)
        with contextlib.suppress(Exception):
            await msg.respond(self.bus.codec.encode(reply))

    async def command(self, runner: ProgramRunner, action: str) -> contracts.ProgramCommandReply:
        """Run start/stop/restart on one program and say what happened."""
        program_id = runner.spec.id
        result: Result
        if action not in ACTIONS:
            result, detail = "failed", f"unknown action {action!r}; use start, stop or restart"
        else:
            try:
                result, detail = await getattr(runner, action)()
            except Exception as exc:  # a command must always get an answer
                log.exception("program command failed", program=program_id, action=action)
                result, detail = "failed", f"{type(exc).__name__}: {exc}"
        log.info("program command", program=program_id, action=action, result=result)
        return contracts.ProgramCommandReply(
            program_id=program_id,
            action=action,
            result=result,
            detail=detail,
            state=runner.state,
        )
