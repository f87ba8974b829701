"""The SQL side of analyzer-work.sqlite: the engine, and writing a prepared unit in one transaction.

Rows go in as multi-row statements (``INSERT … VALUES (…), (…), …``) of a few hundred rows,
not as ``executemany``. The unit is written on its own thread while the next one is
prepared; sqlite3 lets go of the GIL while a statement runs, and one statement per few
hundred rows means the writer thread asks for the GIL back a few hundred times per
transaction instead of once per row (which, beside a busy Python thread, waits for the
interpreter's switch interval every time: a hundredfold slowdown, measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from services.analyzer.work.schema import metadata
from services.core.sqlite import wal_engine

# Bound parameters per statement: under SQLite's own limit before 3.32 (999) would be too
# few rows per statement; 3.32+ allows 32766, which every supported Python ships with.
MAX_PARAMS = 32_000
MAX_ROWS = 1024  # rows per statement, also bounding the statement text


def open_engine(path: Path) -> Engine:
    """The work database at ``path``, WAL mode, tables created when missing."""
    engine = wal_engine(
        path,
        # 64 MiB: the index pages a backfill touches stay hot.
        pragmas=("cache_size=-65536", "temp_store=MEMORY"),
        # Statements are cached per connection by their text: one per table and chunk size.
        connect_args={"cached_statements": 256},
    )
    metadata.create_all(engine)
    return engine


@dataclass(frozen=True)
class Rows:
    """Rows for one statement shape: ``head`` + n row groups + ``tail``, parameters flat."""

    head: str  # "INSERT INTO t (a, b) VALUES " or "DELETE FROM t WHERE k IN ("
    width: int  # parameters per row
    params: list[Any]  # width × rows values, row after row
    tail: str = ""  # ON CONFLICT …, or ")" closing an IN list
    group: str = ""  # one row's placeholder text; default "(?, ?, …)" of width

    def __post_init__(self) -> None:
        if len(self.params) % self.width:
            raise ValueError(f"{len(self.params)} parameters are not rows of {self.width}")

    @property
    def count(self) -> int:
        return len(self.params) // self.width


@dataclass
class Unit:
    """One transaction's statements, prepared from memory state of generation ``gen``."""

    gen: int
    statements: list[Rows] = field(default_factory=list)
    # (sql, rows) run by executemany: only for rare statements (latency moves of stored rows).
    singles: list[tuple[str, list[tuple[Any, ...]]]] = field(default_factory=list)

    def add(self, rows: Rows) -> None:
        if rows.params:
            self.statements.append(rows)


def insert(table: str, columns: tuple[str, ...], rows: list[Any], conflict: str = "") -> Rows:
    """Rows for ``INSERT INTO table (columns) VALUES …``; ``rows`` is flat."""
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    return Rows(head, len(columns), rows, f" {conflict}" if conflict else "")


def flat(rows: Any) -> list[Any]:
    """Row tuples as one flat parameter list."""
    return list(chain.from_iterable(rows))


@lru_cache(maxsize=512)
def _statement(head: str, group: str, tail: str, n: int) -> str:
    return head + ", ".join([group] * n) + tail


def chunk_sizes(rows: int, width: int) -> list[int]:
    """Statement sizes for ``rows`` rows: full chunks, then powers of two for the rest.

    A few shapes per table keep the compiled statements cached; the biggest chunk stays
    under SQLite's parameter limit.
    """
    biggest = 1
    while biggest * 2 <= min(MAX_ROWS, MAX_PARAMS // width):
        biggest *= 2
    sizes = [biggest] * (rows // biggest)
    rest = rows % biggest
    size = biggest // 2
    while rest:
        if rest >= size:
            sizes.append(size)
            rest -= size
        size //= 2
    return sizes


def write_rows(execute: Callable[[str, list[Any]], Any], rows: Rows) -> None:
    """Run the statements of ``rows`` through ``execute(sql, params)``."""
    width = rows.width
    group = rows.group or "(" + ", ".join("?" * width) + ")"
    params = rows.params
    at = 0
    for n in chunk_sizes(rows.count, width):
        end = at + n * width
        execute(_statement(rows.head, group, rows.tail, n), params[at:end])
        at = end
