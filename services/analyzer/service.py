"""The analyzer service: work analytics and metric history over its own SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.analyzer.history.component import HistoryComponent
from services.analyzer.work.component import WorkAnalytics
from services.core.service import VigilService


class AnalyzerService(VigilService):
    """Consumes work batches and metrics; answers queries on ``vigil.api.analyzer.*``."""

    name = "analyzer"

    async def start(self) -> None:
        self.work = WorkAnalytics(self.settings.data_path, self.settings.analyzer)
        self.stack.push_async_callback(self.work.close)
        await self.work.start(self.bus)
        self.spawn(self.work.publish_loop(), "work-kpi")
        self.history = HistoryComponent(self.settings, self.bus)
        await self.history.start()
        self.stack.push_async_callback(self.history.stop)

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        methods: dict[str, Callable[[bytes], Awaitable[Any]]] = {}
        methods.update(self.work.endpoints())
        methods.update(self.history.endpoints())
        return methods

    def health_detail(self) -> dict[str, Any]:
        return {"history": self.history.stats()}
