"""Prepared units written later: memory runs ahead of the database, and a failed unit recovers.

The failures are real SQLite ones: a trigger on the test's database aborts session inserts
while a flag row exists.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from services.analyzer.work.store import chunk_sizes
from services.analyzer.work.writer import StaleUnit, WorkWriter
from services.core.bus import Bus
from tests.conftest import wait_for
from tests.work import gen
from tests.work.helpers import dump, problems, writer
from tests.work.test_service import drained, publish, running

FAIL_WHILE_FLAGGED = """
CREATE TABLE IF NOT EXISTS fail_flag (reason TEXT);
CREATE TRIGGER IF NOT EXISTS fail_sessions BEFORE INSERT ON work_session
WHEN EXISTS (SELECT 1 FROM fail_flag)
BEGIN SELECT RAISE(ABORT, 'disk trouble (test trigger)'); END;
"""


def _flag(path: Path, on: bool) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(FAIL_WHILE_FLAGGED)
        conn.execute("INSERT INTO fail_flag VALUES ('test')" if on else "DELETE FROM fail_flag")
    conn.close()


@pytest.fixture(scope="module")
def log() -> gen.Log:
    return gen.generate(seed=21, days=6)


def test_units_prepared_ahead_then_written_equal_one_apply(tmp_path: Path, log: gen.Log) -> None:
    pieces = gen.batches(log, size=5, seed=3)
    once = writer(tmp_path / "once.sqlite")
    once.apply(pieces)
    ahead = writer(tmp_path / "ahead.sqlite")
    units = [ahead.prepare(pieces[i : i + 7])[0] for i in range(0, len(pieces), 7)]
    assert len(units) > 3
    for unit in units:  # every unit was prepared before the first was written
        ahead.commit(unit)
    assert dump(ahead) == dump(once)
    assert problems(ahead)["total"] == problems(once)["total"] > 0


def test_a_failed_unit_refuses_the_units_after_it_and_reload_recovers(
    tmp_path: Path, log: gen.Log
) -> None:
    pieces = gen.batches(log, size=5, seed=5)
    once = writer(tmp_path / "once.sqlite")
    once.apply(pieces)
    path = tmp_path / "w.sqlite"
    w = writer(path)
    third = len(pieces) // 3
    w.apply(pieces[:third])
    _flag(path, on=True)
    first, _ = w.prepare(pieces[third : 2 * third])
    second, _ = w.prepare(pieces[2 * third :])
    with pytest.raises(sqlite3.IntegrityError, match="disk trouble"):
        w.commit(first)
    with pytest.raises(StaleUnit):
        w.commit(second)  # built on memory that counted the failed unit
    with pytest.raises(StaleUnit):
        w.prepare(pieces[:1])  # memory must be reloaded first
    _flag(path, on=False)
    w.reload()
    # Redelivered, in another order and overlapping what was stored.
    for unit in (w.prepare(pieces[2 * third :])[0], w.prepare(pieces[third // 2 :])[0]):
        w.commit(unit)
    assert dump(w) == dump(once)


def test_statement_chunks_cover_every_row_in_few_shapes() -> None:
    for rows in (0, 1, 7, 511, 512, 513, 5000, 123_457):
        for width in (1, 5, 34):
            sizes = chunk_sizes(rows, width)
            assert sum(sizes) == rows
            assert all(n * width <= 32_000 for n in sizes)
            assert len(set(sizes)) <= 12  # full chunks plus powers of two


async def test_a_failing_write_is_redelivered_and_ends_with_the_right_numbers(
    bus: Bus, nats_url: str, tmp_path: Path, log: gen.Log
) -> None:
    batches = gen.batches(log, size=4, seed=9)
    reference_writer = writer(tmp_path / "reference.sqlite")
    reference_writer.apply(batches)
    data = tmp_path / "analyzer"
    async with running(nats_url, data) as work:
        path = data / "analyzer-work.sqlite"
        await publish(bus, batches[:10])
        await drained(bus)
        _flag(path, on=True)
        await publish(bus, batches[10:])
        await wait_for(lambda: work.writer.gen > 0, timeout=20)  # a unit failed
        _flag(path, on=False)
        await drained(bus)  # naked batches came back after their delay and were applied
        assert _counts(work.writer) == _counts(reference_writer)
    assert dump(writer(path)) == dump(reference_writer)


def _counts(w: WorkWriter) -> tuple[int, int]:
    with w.engine.connect() as conn:
        sessions = conn.execute(text("SELECT COUNT(*) FROM work_session")).scalar()
        scans = conn.execute(text("SELECT COUNT(*) FROM work_scan")).scalar()
    return int(sessions or 0), int(scans or 0)
