"""The host, process and GPU collectors against this machine (psutil, NVML without a driver)."""

from __future__ import annotations

import subprocess
import sys

import psutil

from services.core.config.metrics import HostCollectorSettings, ProcessCollectorSettings
from services.ingest.collectors.gpu import GpuCollector
from services.ingest.collectors.host import HostCollector
from services.ingest.collectors.processes import ProcessCollector
from services.ingest.collectors.validate import check_sample


def _by_name(samples: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out


def test_host_collector_reports_this_machine() -> None:
    collector = HostCollector(HostCollectorSettings())
    first = _by_name(collector.collect())
    # Rates need two readings: none on the first one.
    assert "net.recv_bytes_per_s" not in first
    second = collector.collect()
    for sample in second:
        check_sample(sample)  # every collected sample obeys the naming rules
    got = _by_name(second)
    assert 0.0 <= got["cpu.percent"][0].value <= 100.0
    cores = {s.labels["core"] for s in got["cpu.core.percent"]}
    assert len(cores) == psutil.cpu_count()
    assert got["mem.total_bytes"][0].value == psutil.virtual_memory().total
    assert 0.0 <= got["mem.percent"][0].value <= 100.0
    mounts = {s.labels["mount"] for s in got["disk.used_percent"]}
    assert "/" in mounts or mounts, "at least one mounted file system"
    for name in ("disk.read_bytes_per_s", "net.sent_bytes_per_s", "load.1m", "swap.percent"):
        assert name in got and got[name][0].value >= 0.0
    assert got["host.uptime_s"][0].value > 0


def test_host_collector_without_per_core() -> None:
    got = _by_name(HostCollector(HostCollectorSettings(per_core=False)).collect())
    assert "cpu.core.percent" not in got and "cpu.percent" in got


def test_process_collector_counts_processes() -> None:
    got = _by_name(ProcessCollector(ProcessCollectorSettings(enabled=True, top=3)).collect())
    assert got["proc.count"][0].value >= 1
    assert len(got["proc.top.cpu_percent"]) == 3


def test_gpu_collector_off_without_driver() -> None:
    gpu = GpuCollector()
    reason = gpu.start()
    try:
        if reason:  # this machine has no NVIDIA driver: one line, nothing collected
            assert reason.startswith("GPU collector off")
            assert gpu.collect() == []
        else:  # a GPU machine: every reading is a valid sample
            samples = gpu.collect()
            assert any(s.name == "gpu.util_percent" for s in samples)
    finally:
        gpu.stop()


def test_gpu_module_prints_a_batch_or_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "services.ingest.collectors.gpu"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip()
    assert out.startswith("GPU collector off") or '"gpu.util_percent"' in out
    assert "Traceback" not in proc.stderr
