"""Helpers for the metrics tests: a history writer/reader on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.history.db import open_engine
from services.analyzer.history.reader import HistoryReader
from services.analyzer.history.writer import HistoryWriter
from services.core.config.metrics import HistorySettings
from services.core.contracts import MetricBatch, MetricSample


class History:
    def __init__(self, path: Path, settings: HistorySettings) -> None:
        self.path = path
        self.settings = settings
        self.engine = open_engine(path)
        self.writer = HistoryWriter(self.engine, settings)
        self.reader = HistoryReader(self.engine, settings)

    def feed(
        self,
        name: str,
        ts: list[float],
        values: list[float],
        *,
        labels: dict[str, str] | None = None,
        host: str = "h1",
        now: float | None = None,
        per_batch: int = 500,
    ) -> None:
        batches = [
            MetricBatch(
                host=host,
                group="test",
                ts=t,
                samples=[MetricSample(name=name, value=v, labels=labels or {})],
            )
            for t, v in zip(ts, values, strict=True)
        ]
        for i in range(0, len(batches), per_batch):
            self.writer.write(batches[i : i + per_batch], now=now)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "analyzer-history.sqlite", HistorySettings())


@pytest.fixture
def make_history(tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(**overrides: object) -> History:
        return History(tmp_path / "analyzer-history.sqlite", HistorySettings(**overrides))  # type: ignore[arg-type]

    return build
