"""release_free_memory gives the heap that large transient work leaves behind back to the OS."""

from __future__ import annotations

import gc
import sys

import pytest

from services.core.startup import release_free_memory


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_freed_heap_goes_back_after_transient_work() -> None:
    # Like a backfill: many malloc-sized objects, a few survive and pin the heap's top.
    rows = [bytes(1500) + str(i).encode() for i in range(100_000)]
    kept = rows[::50]
    del rows
    gc.collect()
    before = _rss_mb()
    assert release_free_memory() is True
    after = _rss_mb()
    assert len(kept) == 2000
    assert after < before - 50, f"RSS {before:.0f} → {after:.0f} MB"
