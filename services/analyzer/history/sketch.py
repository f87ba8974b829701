"""Quantile sketches (the ``ddsketch`` library) and their compact binary form for SQLite.

Layout (little endian): ``zero_count f8, n_pos u4, n_neg u4``, then the positive
bins as ``n_pos`` int32 keys and ``n_pos`` float32 counts, then the negative bins
alike. Only non-empty bins are kept. Keys are the library's logarithmic-mapping
keys, so a decoded sketch answers within the same relative accuracy.

Plain ``array`` rather than numpy: the analyzer encodes sketches on every rollup,
and numpy (~11 MB resident) then stays loaded only once someone queries history.
"""

from __future__ import annotations

import struct
from array import array
from itertools import compress
from typing import Any

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

_HEAD = struct.Struct("<dII")
QUANTILES = (0.5, 0.95, 0.99)


def new_sketch(accuracy: float) -> DDSketch:
    return DDSketch(accuracy)


def _bins(store: object) -> tuple[array[int], array[float]]:
    # DenseStore documents ``bins`` and ``offset`` as its attributes.
    bins: list[float] = getattr(store, "bins", [])
    start = int(getattr(store, "offset", 0))
    # compress() keeps the non-empty bins at C speed (numpy's nonzero did the same).
    keys = array("i", compress(range(start, start + len(bins)), bins))
    return keys, array("f", compress(bins, bins))


def _read(code: str, data: memoryview, at: int, n: int) -> list[Any]:
    values = array(code)
    values.frombytes(data[at : at + values.itemsize * n])
    return values.tolist()


def encode(sketch: DDSketch) -> bytes:
    pos_keys, pos_counts = _bins(sketch._store)
    neg_keys, neg_counts = _bins(sketch._negative_store)
    return b"".join(
        (
            _HEAD.pack(float(sketch._zero_count), len(pos_keys), len(neg_keys)),
            pos_keys.tobytes(),
            pos_counts.tobytes(),
            neg_keys.tobytes(),
            neg_counts.tobytes(),
        )
    )


class SketchCodec:
    """Decodes sketches of one accuracy (the mapping is built once)."""

    def __init__(self, accuracy: float) -> None:
        self.accuracy = accuracy
        self.mapping = LogarithmicMapping(accuracy)

    def decode(self, data: bytes) -> DDSketch:
        sketch = DDSketch(self.accuracy)
        self.merge_into(sketch, data)
        return sketch

    def merge_into(self, sketch: DDSketch, data: bytes) -> None:
        """Add the bins stored in ``data`` to ``sketch`` (a merge without a second object)."""
        zero, n_pos, n_neg = _HEAD.unpack_from(data)
        view = memoryview(data)
        at = _HEAD.size
        pos_keys = _read("i", view, at, n_pos)
        at += 4 * n_pos
        pos_counts = _read("f", view, at, n_pos)
        at += 4 * n_pos
        neg_keys = _read("i", view, at, n_neg)
        at += 4 * n_neg
        neg_counts = _read("f", view, at, n_neg)
        value = self.mapping.value
        # Each bin's representative value maps back onto the same key.
        for key, count in zip(pos_keys, pos_counts, strict=True):
            sketch.add(value(key), count)
        for key, count in zip(neg_keys, neg_counts, strict=True):
            sketch.add(-value(key), count)
        if zero:
            sketch.add(0.0, zero)


def quantiles(sketch: DDSketch) -> tuple[float | None, ...]:
    return tuple(sketch.get_quantile_value(q) for q in QUANTILES)
