"""The ingest service: composes its components (sources, collectors, programs, targets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.core.service import VigilService
from services.ingest.collectors.scheduler import CollectorScheduler
from services.ingest.programs import rpc as program_rpc
from services.ingest.programs.manager import ProgramManager
from services.ingest.tail import FileIngest
from services.ingest.targets.component import TargetsComponent


class IngestService(VigilService):
    """Collects from files, the host and the devices around it, and publishes events."""

    name = "ingest"

    async def start(self) -> None:
        self.files = await FileIngest.open(self.settings, self.bus)
        self.stack.push_async_callback(self.files.close)
        self.programs = ProgramManager(self.settings, self.bus)
        await self.programs.start()
        self.stack.push_async_callback(self.programs.close)
        self.collectors = CollectorScheduler(
            self.settings.ingest.collectors, self.bus, self.settings.host
        )
        await self.collectors.start()
        self.stack.push_async_callback(self.collectors.stop)
        self.targets = TargetsComponent(self.settings, self.bus)
        await self.targets.start()
        self.stack.push_async_callback(self.targets.stop)

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        methods: dict[str, Callable[[bytes], Awaitable[Any]]] = {}
        methods.update(program_rpc.endpoints(self.programs))
        methods.update(self.targets.endpoints())
        return methods

    def health_detail(self) -> dict[str, Any]:
        return {"collectors": self.collectors.stats()}
