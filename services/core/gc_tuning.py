"""Garbage-collector settings for a service that turns a stream of events into rows."""

from __future__ import annotations

import gc

# The collector's first generation runs every 700 net new container objects (dicts, lists,
# tuples). A backfill keeps a few thousand rows in flight per transaction, so that default
# walks the same live rows again and again: measured, about a quarter of the analyzer's CPU
# in a million-row backfill (bench/bench_work.py). Cycles are rare here; 50,000 keeps the
# collector for them without the churn.
THROUGHPUT_THRESHOLDS = (50_000, 20, 100)


def tune_for_throughput() -> tuple[int, int, int]:
    """Freeze what is loaded so far and raise the thresholds; returns the old thresholds."""
    old = gc.get_threshold()
    gc.freeze()  # imports and settings never die: out of every full collection's walk
    gc.set_threshold(*THROUGHPUT_THRESHOLDS)
    return old
