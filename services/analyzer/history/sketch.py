"""Quantile sketches (the ``ddsketch`` library) and their compact binary form for SQLite.

Layout (little endian): ``zero_count f8, n_pos u4, n_neg u4``, then the positive
bins as ``n_pos`` int32 keys and ``n_pos`` float32 counts, then the negative bins
alike. Only non-empty bins are kept. Keys are the library's logarithmic-mapping
keys, so a decoded sketch answers within the same relative accuracy.
"""

from __future__ import annotations

import struct

import numpy as np
from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

_HEAD = struct.Struct("<dII")
QUANTILES = (0.5, 0.95, 0.99)


def new_sketch(accuracy: float) -> DDSketch:
    return DDSketch(accuracy)


def _bins(store: object) -> tuple[np.ndarray, np.ndarray]:
    # DenseStore documents ``bins`` and ``offset`` as its attributes.
    counts = np.asarray(getattr(store, "bins", []), dtype=np.float64)
    if counts.size == 0:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    keys = np.nonzero(counts)[0]
    return (keys + int(getattr(store, "offset", 0))).astype(np.int32), counts[keys].astype(
        np.float32
    )


def encode(sketch: DDSketch) -> bytes:
    pos_keys, pos_counts = _bins(sketch._store)
    neg_keys, neg_counts = _bins(sketch._negative_store)
    return b"".join(
        (
            _HEAD.pack(float(sketch._zero_count), pos_keys.size, neg_keys.size),
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
        at = _HEAD.size
        pos_keys = np.frombuffer(data, np.int32, n_pos, at)
        at += 4 * n_pos
        pos_counts = np.frombuffer(data, np.float32, n_pos, at)
        at += 4 * n_pos
        neg_keys = np.frombuffer(data, np.int32, n_neg, at)
        at += 4 * n_neg
        neg_counts = np.frombuffer(data, np.float32, n_neg, at)
        value = self.mapping.value
        # Each bin's representative value maps back onto the same key.
        for key, count in zip(pos_keys.tolist(), pos_counts.tolist(), strict=True):
            sketch.add(value(key), count)
        for key, count in zip(neg_keys.tolist(), neg_counts.tolist(), strict=True):
            sketch.add(-value(key), count)
        if zero:
            sketch.add(0.0, zero)


def quantiles(sketch: DDSketch) -> tuple[float | None, ...]:
    return tuple(sketch.get_quantile_value(q) for q in QUANTILES)
