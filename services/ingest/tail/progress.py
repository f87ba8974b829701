"""Backfill progress: IngestProgress events on NATS, a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from services.core import contracts
from services.core.logs import get_logger
from services.ingest.tail.outbox import Outbox

log = get_logger("ingest")
BAR_WIDTH = 30


class BackfillProgress:
    """Counts files and bytes of one source's first pass and reports at a bounded rate."""

    def __init__(
        self,
        source: str,
        host: str,
        outbox: Outbox,
        *,
        interval_s: float = 0.5,
        log_interval_s: float = 5.0,
        stream: TextIO | None = None,
    ) -> None:
        self.source = source
        self.host = host
        self.outbox = outbox
        self.interval_s = interval_s
        self.log_interval_s = log_interval_s
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.files_total = self.files_done = self.bytes_total = self.bytes_done = 0
        self.done = False
        self._last_event = self._last_log = 0.0

    def begin(self, files_total: int, bytes_total: int) -> None:
        self.files_total, self.bytes_total = files_total, bytes_total
        self._last_log = time.monotonic()
        log.info("backfill", source=self.source, files=files_total, bytes=bytes_total)
        self._report(force=True)

    def advance(self, *, nbytes: int = 0, files: int = 0) -> None:
        if self.done:
            return
        self.bytes_done = min(self.bytes_total, self.bytes_done + nbytes)
        self.files_done = min(self.files_total, self.files_done + files)
        self._report()

    def finish(self) -> None:
        self.files_done, self.bytes_done, self.done = self.files_total, self.bytes_total, True
        self._report(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        log.info("backfill done", source=self.source, files=self.files_total)

    def event(self) -> contracts.IngestProgress:
        return contracts.IngestProgress(
            source=self.source,
            files_done=self.files_done,
            files_total=self.files_total,
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            done=self.done,
            host=self.host,
            ts=time.time(),
        )

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_event >= self.interval_s:
            self._last_event = now
            self.outbox.put(contracts.ingest_progress(self.source), self.event())
            if self.tty:
                self._draw()
        if not self.tty and not self.done and now - self._last_log >= self.log_interval_s:
            self._last_log = now
            log.info(
                "backfill progress",
                source=self.source,
                files=f"{self.files_done}/{self.files_total}",
                percent=round(self._fraction() * 100, 1),
            )

    def _fraction(self) -> float:
        if self.bytes_total:
            return self.bytes_done / self.bytes_total
        return self.files_done / self.files_total if self.files_total else 1.0

    def _draw(self) -> None:
        fraction = self._fraction()
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        mb_done, mb_total = self.bytes_done / 1e6, self.bytes_total / 1e6
        self.stream.write(
            f"\r{self.source} [{bar}] {fraction * 100:5.1f}% "
            f"{self.files_done:,}/{self.files_total:,} files {mb_done:,.1f}/{mb_total:,.1f} MB"
        )
        self.stream.flush()
