"""In-memory sliding windows per series and the reducers rules apply to them."""

from __future__ import annotations

import itertools
import math
from collections import deque

STALE_S = 300.0


class SeriesWindow:
    """The recent samples of one series, kept for the longest window any rule needs."""

    __slots__ = ("keep_s", "samples", "total")

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self.samples: deque[tuple[float, float]] = deque()
        self.total = 0.0  # running sum of the kept values: avg/sum over the whole window in O(1)

    def add(self, ts: float, value: float) -> None:
        samples = self.samples
        if samples and ts < samples[-1][0]:
            # Late sample (a redelivery or a slow host): keep the deque sorted by time.
            items = sorted([*samples, (ts, value)])
            samples.clear()
            samples.extend(items)
        else:
            samples.append((ts, value))
        self.total += value
        self.prune(samples[-1][0])

    def prune(self, now: float) -> None:
        limit = now - self.keep_s
        samples = self.samples
        # Always keep the newest sample so "last" has something to answer.
        while len(samples) > 1 and samples[0][0] < limit:
            self.total -= samples.popleft()[1]
        if len(samples) == 1:
            self.total = samples[0][1]  # re-anchor the running sum: no float drift builds up

    def newest(self) -> float | None:
        return self.samples[-1][0] if self.samples else None

    def reduce(self, reducer: str, window_s: float, now: float) -> float | None:
        """The reducer over samples newer than ``now - window_s``; None when there are none."""
        samples = self.samples
        if not samples:
            return None
        if reducer == "last" or window_s <= 0:
            ts, value = samples[-1]
            # A bare selector reads the newest sample until it is stale (like Prometheus's 5 min).
            limit = window_s if window_s > 0 else STALE_S
            return value if ts >= now - limit else None
        start = now - window_s
        if reducer in ("avg", "sum", "count") and samples[0][0] >= start:
            # Every kept sample is inside the window: use the running sum.
            n = len(samples)
            return {"avg": self.total / n, "sum": self.total, "count": float(n)}[reducer]
        values = [v for t, v in samples if t >= start]
        if not values:
            return None
        if reducer == "avg":
            return sum(values) / len(values)
        if reducer == "min":
            return min(values)
        if reducer == "max":
            return max(values)
        if reducer == "sum":
            return float(sum(values))
        if reducer == "count":
            return float(len(values))
        if reducer == "rate":
            return _rate([(t, v) for t, v in samples if t >= start])
        if reducer in ("p50", "p95", "p99"):
            return _quantile(values, int(reducer[1:]) / 100)
        raise ValueError(f"unknown reducer {reducer!r}")


def _rate(points: list[tuple[float, float]]) -> float | None:
    """Per-second increase between the first and last sample; counter resets count from 0."""
    if len(points) < 2:
        return None
    increase = 0.0
    for (_, prev), (_, cur) in itertools.pairwise(points):
        increase += cur - prev if cur >= prev else cur
    elapsed = points[-1][0] - points[0][0]
    return increase / elapsed if elapsed > 0 else None


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (the same definition as numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
