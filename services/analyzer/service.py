"""The analyzer service: work analytics and metric history over its own SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.analyzer.history.component import HistoryComponent
from services.analyzer.work.component import WorkAnalytics
from services.core.partition import claim_rpc_partition, rpc_token, watch_peers
from services.core.service import VigilService


class AnalyzerService(VigilService):
    """Consumes work batches and metrics; answers queries on ``vigil.api.analyzer.*``.

    Partitioned (``[analyzer] partitions`` > 1), each instance keeps the metric history of
    the hosts it owns and answers on ``vigil.api.analyzer.p<k>.*``; only partition 0 runs
    the work analytics, which need every process's sessions in one place (DEPLOY §4).
    """

    name = "analyzer"
    work: WorkAnalytics | None = None

    async def start(self) -> None:
        cfg = self.settings.analyzer
        token = rpc_token(cfg.partition, cfg.partitions)
        await claim_rpc_partition(self.bus, self.name, token, self._health)
        if cfg.partition == 0:
            work = self.work = WorkAnalytics(self.settings.data_path, self.settings.analyzer)
            self.stack.push_async_callback(work.close)
            await work.start(self.bus)
            self.spawn(work.publish_loop(), "work-kpi")
        self.history = HistoryComponent(self.settings, self.bus)
        await self.history.start()
        self.stack.push_async_callback(self.history.stop)
        self.spawn(
            watch_peers(self.bus, self.name, cfg.partition, cfg.partitions, self.log), "peers"
        )

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        methods: dict[str, Callable[[bytes], Awaitable[Any]]] = {}
        if self.work is not None:
            methods.update(self.work.endpoints())
        methods.update(self.history.endpoints())
        return methods

    def health_detail(self) -> dict[str, Any]:
        cfg = self.settings.analyzer
        partition = {"partition": cfg.partition} if cfg.partitions > 1 else {}
        work = self.work.health_detail() if self.work is not None else {}
        return {**partition, **work, "history": self.history.stats()}
