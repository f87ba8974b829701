"""The ingest service: composes its components (sources, collectors, programs, targets)."""

from __future__ import annotations

from services.core.service import VigilService


class IngestService(VigilService):
    """Collects from files, the host and the devices around it, and publishes events."""

    name = "ingest"

    async def start(self) -> None:
        pass
