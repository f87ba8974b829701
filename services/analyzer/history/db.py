"""Open <data_dir>/analyzer-history.sqlite: WAL mode, schema created, one engine per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from services.analyzer.history import tables

DB_NAME = "analyzer-history.sqlite"


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash; only power loss may drop the last commit,
    # and the samples are still in JetStream until acknowledged.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def open_engine(path: Path) -> Engine:
    """The history database at ``path`` (created with its tables when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False}, pool_size=8
    )
    event.listen(engine, "connect", _pragmas)
    tables.metadata.create_all(engine)
    return engine
