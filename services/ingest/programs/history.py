"""Bounded in-memory history of each program's samples: recent points and 24 h of minutes.

Kept in ingest until the analyzer's history RPC can serve program series; it is lost on
an ingest restart (the MetricBatch samples on vigil.metric.<host>.program are durable).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

RECENT_POINTS = 120
DAY_MINUTES = 24 * 60


@dataclass
class Minute:
    """One minute of samples: mean CPU, max RSS, last threads, fraction of samples up."""

    minute: int
    n: int = 0
    cpu_sum: float = 0.0
    rss_max: float = 0.0
    threads: int = 0
    up_sum: float = 0.0

    def add(self, cpu: float, rss: float, threads: int, up: bool) -> None:
        self.n += 1
        self.cpu_sum += cpu
        self.rss_max = max(self.rss_max, rss)
        self.threads = threads
        self.up_sum += 1.0 if up else 0.0

    def point(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {
            "ts": self.minute * 60.0,
            "cpu_percent": round(self.cpu_sum / n, 2),
            "rss_mb": round(self.rss_max, 2),
            "threads": self.threads,
            "up": round(self.up_sum / n, 3),
        }


class ProgramHistory:
    """Recent raw samples (for sparklines) and per-minute rollups (for the 24 h chart)."""

    def __init__(self) -> None:
        self.recent: deque[tuple[float, float, float, int, bool]] = deque(maxlen=RECENT_POINTS)
        self.minutes: deque[Minute] = deque(maxlen=DAY_MINUTES)

    def add(self, ts: float, cpu: float, rss: float, threads: int, up: bool) -> None:
        self.recent.append((ts, cpu, rss, threads, up))
        minute = int(ts // 60)
        if not self.minutes or self.minutes[-1].minute != minute:
            self.minutes.append(Minute(minute))
        self.minutes[-1].add(cpu, rss, threads, up)

    def recent_points(self) -> list[dict[str, float]]:
        return [
            {"ts": ts, "cpu_percent": round(c, 2), "rss_mb": round(r, 2), "threads": t, "up": u}
            for ts, c, r, t, u in self.recent
        ]

    def day_points(self, since: float = 0.0) -> list[dict[str, float]]:
        return [m.point() for m in self.minutes if m.minute * 60.0 >= since]
