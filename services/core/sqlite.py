"""Opening a service's SQLite file: one engine factory, the same pragmas on every connection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

# WAL: readers never block the one writer. synchronous=NORMAL: in WAL mode a commit survives
# a killed process; only a power cut may drop the last ones, and what they held is still in
# JetStream (acked only after the commit) or re-read from the source file.
# busy_timeout: a reader's checkpoint never fails a write at once.
BASE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000")


def wal_engine(
    path: Path,
    *,
    pragmas: Sequence[str] = (),
    connect_args: dict[str, Any] | None = None,
    **engine_args: Any,
) -> Engine:
    """An engine on ``path`` (its folder created) whose connections run BASE_PRAGMAS.

    ``pragmas`` follow them (``"cache_size=-65536"``). Connections may move between threads
    (a pool, ``asyncio.to_thread``); each file still has one writer, by the owner's design.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, **(connect_args or {})},
        **engine_args,
    )
    statements = [f"PRAGMA {p}" for p in (*BASE_PRAGMAS, *pragmas)]

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()

    return engine
