"""The ingest service: composes its components (sources, collectors, programs, targets)."""

from __future__ import annotations

from services.core.service import VigilService
from services.ingest.tail import FileIngest


class IngestService(VigilService):
    """Collects from files, the host and the devices around it, and publishes events."""

    name = "ingest"

    async def start(self) -> None:
        self.files = await FileIngest.open(self.settings, self.bus)
        self.stack.push_async_callback(self.files.close)
