"""In-memory state of one series while samples stream in: the open raw chunk and rollups."""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass, field

from ddsketch import DDSketch

from services.analyzer.history.sketch import SketchCodec, encode, new_sketch, quantiles

# 160 samples (1,920 B of payload) fill a 4 KiB page with two chunks and little slack.
CHUNK_SAMPLES = 160
# A rollup's figures in its ``stats`` column; a missing percentile is NaN.
STATS = struct.Struct("<8d")


def pack_stats(*values: float | None) -> bytes:
    return STATS.pack(*(math.nan if v is None else v for v in values))


_MAX_OFFSET_MS = 2**32 - 1


@dataclass(eq=False)
class RawChunk:
    """Up to CHUNK_SAMPLES samples of one series: uint32 ms offsets, then float64 values."""

    start_ms: int
    offsets: array = field(default_factory=lambda: array("I"))
    values: array = field(default_factory=lambda: array("d"))

    def fits(self, ts_ms: int) -> bool:
        return len(self.offsets) < CHUNK_SAMPLES and 0 <= ts_ms - self.start_ms <= _MAX_OFFSET_MS

    def add(self, ts_ms: int, value: float) -> None:
        self.offsets.append(ts_ms - self.start_ms)
        self.values.append(value)

    @property
    def end_ms(self) -> int:
        return self.start_ms + (self.offsets[-1] if self.offsets else 0)

    def blob(self) -> bytes:
        return self.offsets.tobytes() + self.values.tobytes()


@dataclass(eq=False)
class Rollup:
    """count, sum, min, max, last and a quantile sketch of one series over one bucket."""

    bucket: int
    sketch: DDSketch
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float = 0.0

    @classmethod
    def empty(cls, bucket: int, accuracy: float) -> Rollup:
        return cls(bucket=bucket, sketch=new_sketch(accuracy))

    @classmethod
    def from_row(cls, row: tuple, codec: SketchCodec) -> Rollup:
        bucket, stats, blob = row
        count, total, low, high, last = STATS.unpack(stats)[:5]
        return cls(
            bucket=bucket,
            sketch=codec.decode(blob),
            count=int(count),
            sum=total,
            min=low,
            max=high,
            last=last,
        )

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.last = value
        self.sketch.add(value)

    def rows(self, series_id: int) -> tuple[dict[str, object], dict[str, object]]:
        """The rollup row and its sketch row."""
        p50, p95, p99 = quantiles(self.sketch)
        main: dict[str, object] = {
            "series_id": series_id,
            "ts": self.bucket,
            "stats": pack_stats(self.count, self.sum, self.min, self.max, self.last, p50, p95, p99),
        }
        return main, {"series_id": series_id, "ts": self.bucket, "sketch": encode(self.sketch)}


@dataclass(eq=False)
class SeriesState:
    """What the writer remembers about one series between batches."""

    id: int
    last_ts: float
    group: str
    chunk: RawChunk | None = None
    minute: Rollup | None = None
    hour: Rollup | None = None
    last_value: float = 0.0
