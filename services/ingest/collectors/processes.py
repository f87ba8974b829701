"""The process collector: process and thread counts, and the top processes by CPU."""

from __future__ import annotations

import psutil

from services.core.config.metrics import ProcessCollectorSettings
from services.core.contracts import MetricSample

_ATTRS = ["pid", "name", "cpu_percent", "memory_info", "num_threads"]


class ProcessCollector:
    """Walks every process once per run (psutil caches the previous CPU times per pid)."""

    group = "processes"

    def __init__(self, settings: ProcessCollectorSettings | None = None) -> None:
        self.settings = settings or ProcessCollectorSettings()

    def collect(self) -> list[MetricSample]:
        rows = []
        threads = 0
        for proc in psutil.process_iter(_ATTRS):
            info = proc.info
            threads += info.get("num_threads") or 0
            rss = info["memory_info"].rss if info.get("memory_info") else 0
            rows.append((info.get("cpu_percent") or 0.0, rss, info.get("name") or "?", info["pid"]))
        out = [
            MetricSample(name="proc.count", value=float(len(rows))),
            MetricSample(name="proc.threads", value=float(threads)),
        ]
        rows.sort(reverse=True)
        for cpu, rss, name, pid in rows[: self.settings.top]:
            labels = {"process": name[:256], "pid": str(pid)}
            out.append(MetricSample(name="proc.top.cpu_percent", value=float(cpu), labels=labels))
            out.append(MetricSample(name="proc.top.rss_bytes", value=float(rss), labels=labels))
        return out
