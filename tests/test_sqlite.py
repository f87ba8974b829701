"""Every Vigil database is opened the same way: WAL, synchronous=NORMAL, a busy timeout."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from services.core.sqlite import sqlite_engine


def test_engine_applies_base_and_extra_pragmas(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "sub" / "x.sqlite", extra_pragmas=("cache_size=-1024",))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -1024
    assert (tmp_path / "sub" / "x.sqlite").exists()
    engine.dispose()
