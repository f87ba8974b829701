"""Stopping asyncio tasks reliably (a cancel can be swallowed on Python 3.11)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["stop_tasks"]


async def stop_tasks(
    tasks: Sequence[asyncio.Task[Any]], *, tries: int = 40, step: float = 0.25
) -> bool:
    """Cancel ``tasks`` and wait until they end; True when all did.

    The cancel is repeated: on Python 3.11 one that lands while nats-py's fetch finishes
    (``asyncio.wait_for``) can be swallowed, and the consume loop then runs on, so a plain
    ``await task`` would wait forever (a stopping service hung that way under load).
    """
    pending = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=step)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    return not pending
