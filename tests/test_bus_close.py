"""Bus.close with an idle durable consumer: no drain hang, no stray CancelledError at shutdown."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from services.core import contracts
from services.core.bus import Bus
from services.core.config import NatsSettings
from tests.conftest import wait_for


async def test_close_after_idle_fetches_leaves_nothing_behind(nats_url: str) -> None:
    bus = await Bus.connect(NatsSettings(url=nats_url), "test-close")
    await bus.ensure_streams()
    problems: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: problems.append(str(ctx.get("message"))))
    try:

        async def handler(items: list[Any]) -> None:
            return None

        base = len(bus.nc._subs)
        task = bus.consume(
            stream="VIGIL_WORK",
            durable="close-test",
            subjects="vigil.work.close-test",
            kind=contracts.WorkBatch,
            handler=handler,
        )
        await wait_for(lambda: len(bus.nc._subs) > base, timeout=15)
        # An idle consumer's fetch times out; the server's late reply to that pull request can
        # stay queued in the subscription, and the connection's drain at stop then waited on it
        # (3 s, then a stray CancelledError). Stopping the consumer drops its subscription.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert len(bus.nc._subs) == base
        await bus.close()
        assert bus.nc.is_closed
        gc.collect()
        await asyncio.sleep(0)
        gc.collect()
        # `vigil up` printed "_GatheringFuture exception was never retrieved" + a traceback.
        assert problems == []
    finally:
        loop.set_exception_handler(previous)


async def test_stop_tasks_repeats_a_cancel_that_was_swallowed() -> None:
    """A loop that absorbs cancels (as nats-py's fetch can on 3.11) still ends; a plain
    ``await task`` after one cancel would wait forever."""
    from services.core.tasks import stop_tasks

    absorbed: list[int] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                absorbed.append(1)
                if len(absorbed) >= 3:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await stop_tasks([task], step=0.05) is True
    assert task.cancelled()
    assert len(absorbed) == 3


async def test_stop_tasks_gives_up_on_a_task_that_never_ends() -> None:
    from services.core.tasks import stop_tasks

    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(immortal())
    await asyncio.sleep(0)
    assert await stop_tasks([task], tries=3, step=0.01) is False
    assert not task.done()
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    assert task.done()
