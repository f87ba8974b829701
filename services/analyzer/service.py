"""The analyzer service: work analytics and metric history over its own SQLite file."""

from __future__ import annotations

from services.core.service import VigilService


class AnalyzerService(VigilService):
    """Consumes work batches and metrics; answers queries on ``vigil.api.analyzer.*``."""

    name = "analyzer"

    async def start(self) -> None:
        pass
