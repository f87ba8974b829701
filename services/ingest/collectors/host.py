"""The host collector: CPU, load, memory, swap, disk usage and I/O, network I/O, uptime (psutil).

Rates (bytes per second) come from the difference of two readings, so the first
reading after start publishes no rate series; every later one does.
"""

from __future__ import annotations

import os
import time

import psutil

from services.core.config.metrics import HostCollectorSettings
from services.core.contracts import MetricSample


def _s(name: str, value: float, **labels: str) -> MetricSample:
    return MetricSample(name=name, value=float(value), labels=labels)


class HostCollector:
    """One instance per process; ``collect()`` is cheap and synchronous."""

    group = "host"

    def __init__(self, settings: HostCollectorSettings | None = None) -> None:
        self.settings = settings or HostCollectorSettings()
        self._skip = set(self.settings.skip_fstypes)
        self._mounts: list[str] = []
        self._mounts_at = 0.0
        self._last_io: tuple[float, float, float, float, float] | None = None
        # cpu_percent(None) measures since the previous call: prime it now.
        psutil.cpu_percent(None)
        if self.settings.per_core:
            psutil.cpu_percent(None, percpu=True)

    def _mount_points(self) -> list[str]:
        # Mounts change rarely; listing them each second costs more than the usage calls.
        now = time.monotonic()
        if not self._mounts or now - self._mounts_at > 60:
            seen: set[str] = set()
            mounts = []
            for part in psutil.disk_partitions(all=False):
                if part.fstype in self._skip or part.mountpoint in seen:
                    continue
                seen.add(part.mountpoint)
                mounts.append(part.mountpoint)
            self._mounts, self._mounts_at = mounts, now
        return self._mounts

    def collect(self) -> list[MetricSample]:
        out = [_s("cpu.percent", psutil.cpu_percent(None))]
        if self.settings.per_core:
            for core, pct in enumerate(psutil.cpu_percent(None, percpu=True)):
                out.append(_s("cpu.core.percent", pct, core=str(core)))
        if hasattr(os, "getloadavg"):
            one, five, fifteen = os.getloadavg()
            out += [_s("load.1m", one), _s("load.5m", five), _s("load.15m", fifteen)]
        mem = psutil.virtual_memory()
        out += [
            _s("mem.percent", mem.percent),
            _s("mem.used_bytes", mem.total - mem.available),
            _s("mem.available_bytes", mem.available),
            _s("mem.total_bytes", mem.total),
        ]
        swap = psutil.swap_memory()
        out += [_s("swap.percent", swap.percent), _s("swap.used_bytes", swap.used)]
        out += self._disks()
        out += self._io_rates()
        out.append(_s("host.uptime_s", time.time() - psutil.boot_time()))
        return out

    def _disks(self) -> list[MetricSample]:
        out = []
        for mount in self._mount_points():
            try:
                usage = psutil.disk_usage(mount)
            except OSError:
                continue  # unmounted since we listed it, or no permission
            out += [
                _s("disk.used_percent", usage.percent, mount=mount),
                _s("disk.used_bytes", usage.used, mount=mount),
                _s("disk.free_bytes", usage.free, mount=mount),
                _s("disk.total_bytes", usage.total, mount=mount),
            ]
        return out

    def _io_rates(self) -> list[MetricSample]:
        disk = psutil.disk_io_counters()
        net = psutil.net_io_counters()
        now = time.monotonic()
        reading = (
            now,
            float(disk.read_bytes) if disk else 0.0,
            float(disk.write_bytes) if disk else 0.0,
            float(net.bytes_recv) if net else 0.0,
            float(net.bytes_sent) if net else 0.0,
        )
        previous, self._last_io = self._last_io, reading
        if previous is None or now <= previous[0]:
            return []
        span = now - previous[0]
        # Counters can wrap or reset (a NIC re-created): a negative rate is no rate.
        rates = [max(0.0, (b - a) / span) for a, b in zip(previous[1:], reading[1:], strict=True)]
        return [
            _s("disk.read_bytes_per_s", rates[0]),
            _s("disk.write_bytes_per_s", rates[1]),
            _s("net.recv_bytes_per_s", rates[2]),
            _s("net.sent_bytes_per_s", rates[3]),
        ]
