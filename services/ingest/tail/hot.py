"""Hot files: a file that just grew is polled with os.stat every ~1 ms while it keeps growing.

The OS watch reports a change only after watchfiles' step (5 ms) has passed twice without
news, so a row appended to a file that is being written right now would wait 5-10 ms to be
seen. A file that grew a moment ago is likely to grow again: its size is compared every
HOT_POLL_S instead. When it has not grown for HOT_FAST_S the poll backs off to the watch
step, and the file leaves the set after HOT_WINDOW_S of quiet, so an idle folder costs
nothing beyond the watch itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

HOT_POLL_S = 0.001
HOT_FAST_S = 0.05
HOT_WINDOW_S = 0.25
# A burst of many growing files falls back to the watch alone beyond this many.
HOT_MAX = 8


@dataclass(slots=True)
class _Hot:
    size: int
    due: float
    delay: float
    quiet_since: float


class HotFiles:
    """Calls ``on_grow(path)`` when a recently grown file's size changes again.

    Driven by one loop timer (``call_at``), not a task: a poll is a callback and a stat.
    """

    def __init__(self, on_grow: Callable[[str], None], max_delay_s: float) -> None:
        self.on_grow = on_grow
        self.max_delay_s = max(HOT_POLL_S, max_delay_s)
        self.files: dict[str, _Hot] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.polls = 0

    def touch(self, path: str, size: int) -> None:
        """``path`` was read up to ``size`` just now: poll it closely for a while."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        hot = self.files.get(path)
        if hot is not None:
            hot.size, hot.delay, hot.quiet_since = size, HOT_POLL_S, now
            hot.due = min(hot.due, now + HOT_POLL_S)
        elif len(self.files) < HOT_MAX:
            self.files[path] = _Hot(size, now + HOT_POLL_S, HOT_POLL_S, now)
        self._schedule(loop)

    def forget(self, path: str) -> None:
        self.files.pop(path, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.files.clear()

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.files:
            return  # nothing hot: no timer at all
        due = min(hot.due for hot in self.files.values())
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = loop.call_at(due, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._poll(loop.time())
        self._schedule(loop)

    def _poll(self, now: float) -> None:
        for path, hot in list(self.files.items()):
            if hot.due > now:
                continue
            self.polls += 1
            try:
                size = os.stat(path).st_size
            except OSError:
                self.files.pop(path, None)  # gone or renamed: the watch reports that
                continue
            if size != hot.size:
                hot.size, hot.delay, hot.quiet_since = size, HOT_POLL_S, now
                self.on_grow(path)
            elif now - hot.quiet_since >= HOT_WINDOW_S:
                self.files.pop(path, None)
                continue
            elif now - hot.quiet_since >= HOT_FAST_S:
                hot.delay = min(hot.delay * 2, self.max_delay_s)
            hot.due = now + hot.delay
