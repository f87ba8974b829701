"""Fixtures for program supervision: a real ProgramManager on the test broker, event capture."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.msg import Msg

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.programs import process as osproc
from services.ingest.programs import rpc as program_rpc
from services.ingest.programs.manager import ProgramManager
from tests.conftest import wait_for

CHILD = str(Path(__file__).with_name("child.py"))


def prog(program_id: str, *args: str, **fields: Any) -> dict[str, Any]:
    """A program definition running tests/programs/child.py with ``args``."""
    return {"id": program_id, "argv": [sys.executable, CHILD, *args], **fields}


class Events:
    """Every ProgramStatus / ProgramExited seen on vigil.program.>, decoded."""

    def __init__(self) -> None:
        self.all: list[contracts.Event] = []
        self.codec = contracts.Codec()

    async def on_msg(self, msg: Msg) -> None:
        self.all.append(self.codec.decode(msg.data))

    def statuses(self, program_id: str) -> list[contracts.ProgramStatus]:
        return [
            e
            for e in self.all
            if isinstance(e, contracts.ProgramStatus) and e.program_id == program_id
        ]

    def exits(self, program_id: str) -> list[contracts.ProgramExited]:
        return [
            e
            for e in self.all
            if isinstance(e, contracts.ProgramExited) and e.program_id == program_id
        ]

    def last_state(self, program_id: str) -> str:
        found = self.statuses(program_id)
        return found[-1].state if found else ""

    async def wait_state(self, program_id: str, state: str, timeout: float = 10.0) -> Any:
        def seen() -> contracts.ProgramStatus | None:
            for e in self.statuses(program_id):
                if e.state == state:
                    return e
            return None

        return await wait_for(seen, timeout)


@pytest.fixture
async def events(bus: Bus) -> AsyncIterator[Events]:
    ev = Events()
    sub = await bus.nc.subscribe("vigil.program.>", cb=ev.on_msg)
    await bus.nc.flush()
    yield ev
    await sub.unsubscribe()


class Managers:
    """Starts ProgramManagers (each with its own NATS connection, like an ingest process)."""

    def __init__(self, make_settings: Callable[..., Settings]) -> None:
        self.make_settings = make_settings
        self.running: list[tuple[ProgramManager, Bus]] = []
        self.pids: set[int] = set()

    def settings(self, *programs: dict[str, Any], **cfg: Any) -> Settings:
        section = {"program": list(programs), "sample_interval_s": 0.5, **cfg}
        return self.make_settings(ingest={"sources": [], "programs": section})

    async def start(self, *programs: dict[str, Any], **cfg: Any) -> ProgramManager:
        settings = self.settings(*programs, **cfg)
        bus = await Bus.connect(settings.nats, "ingest")
        manager = ProgramManager(settings, bus)
        await manager.start()
        # Like IngestService: the registry queries on vigil.api.ingest.program_*.
        await bus.serve("ingest", program_rpc.endpoints(manager))
        await bus.nc.flush()
        await wait_for(lambda: self._answers(bus), timeout=5)
        self.running.append((manager, bus))
        return manager

    @staticmethod
    async def _answers(bus: Bus) -> bool:
        try:
            await bus.request(contracts.api("ingest", "program_list"), {}, timeout=1)
        except Exception:  # no responders yet
            return False
        return True

    async def stop(self, manager: ProgramManager) -> None:
        for r in manager.runners.values():
            if r.pid:
                self.pids.add(r.pid)
        for pair in list(self.running):
            if pair[0] is manager:
                self.running.remove(pair)
                await manager.close()
                await pair[1].close()


@pytest.fixture
async def managers(make_settings: Callable[..., Settings]) -> AsyncIterator[Managers]:
    m = Managers(make_settings)
    yield m
    for manager, _ in list(m.running):
        await m.stop(manager)
    for pid in m.pids:  # safety net: a failed test must not leave children behind
        if osproc.alive(pid):
            osproc.send(pid, osproc.SIGKILL, group=True)


def decode_reply(data: bytes) -> contracts.ProgramCommandReply:
    return msgspec.json.decode(data, type=contracts.ProgramCommandReply)


async def command(bus: Bus, program_id: str, action: str, timeout: float = 10.0) -> Any:
    reply = await bus.nc.request(contracts.program_cmd(program_id, action), b"{}", timeout=timeout)
    return decode_reply(reply.data)
