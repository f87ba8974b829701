"""Open <data_dir>/analyzer-history.sqlite: WAL mode, schema created, one engine per process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import SQLModel

from services.analyzer.history.schema import HISTORY_TABLES
from services.core.sqlite import sqlite_engine

DB_NAME = "analyzer-history.sqlite"


def open_engine(path: Path) -> Engine:
    """The history database at ``path`` (created with its tables when missing)."""
    engine = sqlite_engine(path, connect_args={"check_same_thread": False}, pool_size=8)
    SQLModel.metadata.create_all(engine, tables=HISTORY_TABLES)
    return engine
