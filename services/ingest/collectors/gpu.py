"""The GPU collector: utilisation, memory, temperature and power per NVIDIA GPU (NVML).

Without a driver (no libnvidia-ml) ``GpuCollector.start()`` returns a one-line
reason and the collector stays off. ``python -m services.ingest.collectors.gpu``
prints one batch as JSON, or that line.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import socket
import sys
import time
from typing import Any

from services.core.contracts import MetricBatch, MetricSample


class GpuCollector:
    """Opens NVML once; ``collect()`` reads every GPU."""

    group = "gpu"

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[tuple[str, str, Any]] = []

    def start(self) -> str:
        """Initialise NVML; returns "" when ready, else why the collector is off."""
        if sys.platform.startswith("linux"):
            # pynvml loads this same library; without it, skip importing pynvml (~2 MB).
            try:
                ctypes.CDLL("libnvidia-ml.so.1")
            except OSError:
                return "GPU collector off: no NVIDIA driver (libnvidia-ml.so.1 not found)"
        try:
            import pynvml
        except ImportError:
            return "GPU collector off: nvidia-ml-py is not installed"
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, …
            return f"GPU collector off: no NVIDIA driver ({exc})"
        if count == 0:
            with contextlib.suppress(Exception):
                pynvml.nvmlShutdown()
            return "GPU collector off: NVML found no GPU"
        self._nvml = pynvml
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            self._handles.append((str(index), str(name)[:256], handle))
        return ""

    def stop(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None

    def collect(self) -> list[MetricSample]:
        nvml = self._nvml
        if nvml is None:
            return []
        out: list[MetricSample] = []
        for index, name, handle in self._handles:
            labels = {"gpu": index, "model": name}

            def add(metric: str, read: Any, labels: dict[str, str] = labels) -> None:
                # One unsupported reading (e.g. power on some boards) must not hide the rest.
                with contextlib.suppress(Exception):
                    out.append(MetricSample(name=metric, value=float(read()), labels=labels))

            add("gpu.util_percent", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu)
            add(
                "gpu.mem_util_percent",
                lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).memory,
            )
            add("gpu.mem_used_bytes", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h).used)
            add("gpu.mem_total_bytes", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h).total)
            add(
                "gpu.mem_percent",
                lambda h=handle: (
                    100.0
                    * nvml.nvmlDeviceGetMemoryInfo(h).used
                    / max(1, nvml.nvmlDeviceGetMemoryInfo(h).total)
                ),
            )
            add(
                "gpu.temperature_c",
                lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
            )
            add("gpu.power_watts", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
        return out


def main() -> int:
    collector = GpuCollector()
    reason = collector.start()
    if reason:
        print(reason)
        return 0
    try:
        batch = MetricBatch(
            host=socket.gethostname(), group="gpu", ts=time.time(), samples=collector.collect()
        )
    finally:
        collector.stop()
    import msgspec

    print(json.dumps(msgspec.to_builtins(batch), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
