"""The process collector: process and thread counts, and the top processes by CPU.

On Linux one read of ``/proc/<pid>/stat`` per process gives everything (name, CPU
ticks, threads, resident pages), several times cheaper than psutil's per-process
calls; elsewhere psutil does the walk. CPU % is per process since the previous run.
"""

from __future__ import annotations

import os
import sys
import time

import psutil

from services.core.config.metrics import ProcessCollectorSettings
from services.core.contracts import MetricSample

_ATTRS = ["pid", "name", "cpu_times", "memory_info", "num_threads"]
# (pid, name, cpu seconds so far, threads, rss bytes)
Row = tuple[int, str, float, int, int]


def _scan_proc(tick: float, page: int) -> list[Row]:
    rows: list[Row] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{entry}/stat", os.O_RDONLY)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError:
            continue  # the process ended while we walked
        left, right = data.find(b"("), data.rfind(b")")
        fields = data[right + 2 :].split()
        if left < 0 or len(fields) < 22:
            continue
        rows.append(
            (
                int(entry),
                data[left + 1 : right].decode("utf-8", "replace"),
                (int(fields[11]) + int(fields[12])) * tick,
                int(fields[17]),
                int(fields[21]) * page,
            )
        )
    return rows


def _scan_psutil() -> list[Row]:
    rows: list[Row] = []
    for proc in psutil.process_iter(_ATTRS):
        info = proc.info
        times = info.get("cpu_times")
        mem = info.get("memory_info")
        rows.append(
            (
                info["pid"],
                info.get("name") or "?",
                (times.user + times.system) if times else 0.0,
                info.get("num_threads") or 0,
                mem.rss if mem else 0,
            )
        )
    return rows


class ProcessCollector:
    """Walks every process once per run and remembers CPU seconds per pid for the next."""

    group = "processes"

    def __init__(self, settings: ProcessCollectorSettings | None = None) -> None:
        self.settings = settings or ProcessCollectorSettings()
        self._linux = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")
        self._tick = 1.0 / os.sysconf("SC_CLK_TCK") if self._linux else 0.0
        self._page = os.sysconf("SC_PAGE_SIZE") if self._linux else 0
        self._previous: dict[tuple[int, str], float] = {}
        self._previous_at = 0.0

    def scan(self) -> list[Row]:
        return _scan_proc(self._tick, self._page) if self._linux else _scan_psutil()

    def collect(self) -> list[MetricSample]:
        rows = self.scan()
        now = time.monotonic()
        span = now - self._previous_at if self._previous_at else 0.0
        previous, self._previous, self._previous_at = self._previous, {}, now
        ranked = []
        threads = 0
        for pid, name, cpu_s, n_threads, rss in rows:
            threads += n_threads
            self._previous[(pid, name)] = cpu_s
            before = previous.get((pid, name))
            pct = 100.0 * (cpu_s - before) / span if span and before is not None else 0.0
            ranked.append((pct, rss, name, pid))
        out = [
            MetricSample(name="proc.count", value=float(len(rows))),
            MetricSample(name="proc.threads", value=float(threads)),
        ]
        ranked.sort(reverse=True)
        for pct, rss, name, pid in ranked[: self.settings.top]:
            labels = {"process": name[:256], "pid": str(pid)}
            out.append(MetricSample(name="proc.top.cpu_percent", value=pct, labels=labels))
            out.append(MetricSample(name="proc.top.rss_bytes", value=float(rss), labels=labels))
        return out
