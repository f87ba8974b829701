"""Backfill progress on a terminal and without one; sources that cannot run are named."""

from __future__ import annotations

import io
import logging

import pytest

from services.core import contracts
from services.core.bus import Bus
from services.core.config.ingest import SourceSettings
from services.ingest.tail.component import source_problem
from services.ingest.tail.outbox import Outbox
from services.ingest.tail.progress import BackfillProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def queued(outbox: Outbox) -> list[contracts.IngestProgress]:
    out = []
    while not outbox.queue.empty():
        _subject, event = outbox.queue.get_nowait()
        assert isinstance(event, contracts.IngestProgress)
        out.append(event)
    return out


async def test_bar_on_a_terminal(bus: Bus) -> None:
    outbox = Outbox(bus)
    screen = Terminal()
    progress = BackfillProgress("work", "h", outbox, interval_s=0.0, stream=screen)
    progress.begin(4, 1000)
    progress.advance(nbytes=500, files=2)
    progress.finish()
    text = screen.getvalue()
    assert "\rwork [###############---------------]  50.0% 2/4 files" in text
    assert "100.0% 4/4 files" in text and text.endswith("\n")
    events = queued(outbox)
    assert [(e.files_done, e.bytes_done, e.done) for e in events] == [
        (0, 0, False),
        (2, 500, False),
        (4, 1000, True),
    ]
    progress.advance(nbytes=10)  # after the end: no more events
    assert queued(outbox) == []


async def test_no_bar_without_a_terminal_only_log_lines(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(bus)
    pipe = io.StringIO()
    progress = BackfillProgress(
        "work", "h", outbox, interval_s=0.0, log_interval_s=0.0, stream=pipe
    )
    logging.getLogger("vigil").propagate = True
    with caplog.at_level(logging.INFO, logger="vigil"):
        progress.begin(2, 100)
        progress.advance(nbytes=50, files=1)
        progress.finish()
    assert pipe.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records]
    assert "backfill progress" in messages and "backfill done" in messages


def test_source_problems_are_named() -> None:
    assert source_problem(SourceSettings()) == ""
    assert "not one of" in source_problem(SourceSettings(parser="xml"))
    assert "does not compile" in source_problem(SourceSettings(parser="regex", regex="(?P<"))
    assert "no globs" in source_problem(SourceSettings(include=[]))
