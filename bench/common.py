"""The shape of a benchmark result and helpers shared by the benchmark modules.

A benchmark is a module ``bench/bench_<area>.py`` with ``def run(quick: bool) -> list[Figure]``
(or ``async def run``). ``python -m bench`` (``just bench``) runs them all and rewrites
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure beside the baseline measured in the same run."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float | None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def ratio(self) -> str:
        if not self.baseline_value or not self.value:
            return "—"
        r = self.value / self.baseline_value
        return f"{r:.2f}×" if r >= 0.01 else f"{r:.2e}×"


def percentile(values: list[float], q: float) -> float:
    """q in [0, 100]; nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
