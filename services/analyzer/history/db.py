"""Open <data_dir>/analyzer-history.sqlite: WAL mode, schema created, one engine per process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from services.analyzer.history import tables
from services.core.sqlite import wal_engine

DB_NAME = "analyzer-history.sqlite"


def open_engine(path: Path) -> Engine:
    """The history database at ``path`` (created with its tables when missing)."""
    engine = wal_engine(path, pool_size=8)
    tables.metadata.create_all(engine)
    return engine
