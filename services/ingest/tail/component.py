"""File ingest as one component of the ingest service: a tailer per source, counters, clean-up."""

from __future__ import annotations

import asyncio

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.core.config.ingest import SourceSettings
from services.core.logs import get_logger
from services.core.tasks import stop_tasks
from services.ingest.parsers import PARSERS, make_parser
from services.ingest.tail.checkpoint import CheckpointStore
from services.ingest.tail.counters import metric_batch
from services.ingest.tail.outbox import Outbox
from services.ingest.tail.source import SourceTailer, TailContext

log = get_logger("ingest")


def source_problem(source: SourceSettings) -> str:
    """Why a source cannot run (a clear sentence), or "" when it can."""
    if source.parser not in PARSERS:
        return f"parser {source.parser!r} is not one of {', '.join(PARSERS)}"
    if source.parser != "work":
        try:
            make_parser(source, "probe")
        except ValueError as exc:
            return str(exc)
    if not source.include:
        return "include lists no globs, so no file would ever match"
    return ""


class FileIngest:
    """Owns the checkpoint store, the side channel and one SourceTailer per configured source."""

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        self.stop = asyncio.Event()
        self.store = CheckpointStore(settings.data_path)
        self.outbox = Outbox(bus)
        self.ctx = TailContext(
            bus=bus,
            store=self.store,
            outbox=self.outbox,
            host=settings.host,
            stop=self.stop,
            progress_interval_s=settings.ingest.progress_interval_s,
            progress_log_interval_s=settings.ingest.progress_log_interval_s,
        )
        self.tailers: list[SourceTailer] = []
        self.tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, settings: Settings, bus: Bus) -> FileIngest:
        files = cls(settings, bus)
        files.start()
        return files

    def start(self) -> None:
        self.store.start()
        self.outbox.start()
        names: set[str] = set()
        for source in self.settings.ingest.sources:
            problem = source_problem(source)
            if problem:
                log.error("source skipped", source=source.name, reason=problem)
                continue
            if source.name in names:
                log.error("source skipped: duplicate name", source=source.name)
                continue
            names.add(source.name)
            tailer = SourceTailer(source, self.ctx)
            self.tailers.append(tailer)
            self.tasks.append(asyncio.create_task(self._guard(tailer), name=f"tail-{source.name}"))
        self.tasks.append(asyncio.create_task(self._metrics(), name="ingest-file-metrics"))

    async def _guard(self, tailer: SourceTailer) -> None:
        """A bug in one source must not end the others: log it and start that source again."""
        while not self.stop.is_set():
            try:
                await tailer.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception(
                    "source failed; restarting", source=tailer.source.name, error=str(exc)
                )
                await asyncio.sleep(1.0)
                # Start clean from what is committed (the same batches, so the same msg ids).
                try:
                    self.store.commit()
                except Exception as exc:  # the intents already committed keep it exact
                    log.warning("checkpoint commit failed", error=str(exc))
                fresh = SourceTailer(tailer.source, self.ctx)
                fresh.counters = tailer.counters
                self.tailers[self.tailers.index(tailer)] = fresh
                tailer = fresh

    async def _metrics(self) -> None:
        interval = self.settings.ingest.file_metrics_interval_s
        subject = contracts.metric(self.settings.host, "ingest")
        while True:
            await asyncio.sleep(interval)
            self.publish_metrics(subject)

    def publish_metrics(self, subject: str | None = None) -> None:
        counters = {t.source.name: t.counters for t in self.tailers}
        self.outbox.put(
            subject or contracts.metric(self.settings.host, "ingest"),
            metric_batch(self.settings.host, counters),
        )

    async def close(self) -> None:
        """Stop reading, let the side channel send, and commit the last checkpoints."""
        self.stop.set()
        await stop_tasks(self.tasks)
        self.publish_metrics()
        await self.outbox.close()
        await self.store.close()
