"""Rate limits per caller and category (DESIGN §7: auth, management, actions, metrics).

A route picks its category with ``opt={"rate_limit": "actions"}``; otherwise the
category follows from the method and path (see ``category_of``).
"""

from __future__ import annotations

import re
import time
from collections import deque

from services.core.config.gateway import RateLimits

WINDOW_S = 60.0
_ACTION_WORDS = re.compile(
    r"/(start|stop|restart|kill|ack|acknowledge|silence|unsilence|run|command|test)(/|$)"
)
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def category_of(method: str, path: str, declared: str | None) -> str | None:
    """Which limit applies to a request; None means no limit (plain reads)."""
    if declared:
        return None if declared == "none" else declared
    if path in {"/login", "/api/v1/auth/login"} and method == "POST":
        return "auth"
    if path == "/metrics" or path.startswith("/api/v1/metrics"):
        return "metrics"
    if method in _UNSAFE:
        return "actions" if _ACTION_WORDS.search(path) else "management"
    return None


class RateLimiter:
    """A sliding one-minute window of request times per (category, caller)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def limit_for(self, category: str) -> int:
        return int(getattr(self.limits, category, 0) or 0)

    def hit(self, category: str, caller: str) -> float | None:
        """Count one request; return seconds to wait when over the limit, else None."""
        limit = self.limit_for(category)
        if limit <= 0:
            return None
        now = time.monotonic()
        window = self._hits.setdefault((category, caller), deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= limit:
            return max(0.0, window[0] + WINDOW_S - now)
        window.append(now)
        if len(self._hits) > 50_000:  # many distinct callers: forget the idle ones
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        for key, window in list(self._hits.items()):
            if not window or window[-1] <= now - WINDOW_S:
                del self._hits[key]
