"""The gateway's SQLite file: WAL mode, one connection used only by one writer thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from services.core.sqlite import wal_engine
from services.gateway.auth.tables import metadata

T = TypeVar("T")


class GatewayDb:
    """Every read and write of gateway.sqlite runs on this one thread, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine: Engine = wal_engine(path, poolclass=StaticPool)
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
