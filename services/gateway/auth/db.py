"""The gateway's SQLite file: WAL mode, one connection used only by one writer thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from services.gateway.auth.tables import metadata

T = TypeVar("T")


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class GatewayDb:
    """Every read and write of gateway.sqlite runs on this one thread, in order."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine: Engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False},
            poolclass=StaticPool,
        )
        event.listen(self.engine, "connect", _on_connect)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gateway-db")

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    async def run(self, fn: Callable[[Engine], T]) -> T:
        """Run ``fn(engine)`` on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, self.engine)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.dispose()
