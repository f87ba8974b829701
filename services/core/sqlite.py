"""The one way Vigil opens a SQLite file: WAL mode and the same pragmas for every database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

# WAL: readers never block the one writer. synchronous=NORMAL in WAL mode survives a killed
# process; only a power cut can drop the last commits, and the events are still in JetStream
# until acknowledged (or the broker's duplicate window drops a re-sent batch).
BASE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000")


def sqlite_engine(path: Path, *, extra_pragmas: Sequence[str] = (), **engine_args: Any) -> Engine:
    """An engine on ``path`` (its folder created) whose every connection gets the pragmas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", **engine_args)
    pragmas = (*BASE_PRAGMAS, *extra_pragmas)

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    return engine
