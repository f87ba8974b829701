"""Whole-stack idle memory: `vigil up` itself, nats-server and the four services, once ready."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from bench.common import Figure
from bench.stack import running_stack

TARGET_MB = 250.0
SERVICES = ("ingest", "analyzer", "alerts", "gateway")
# What every service needs before its own code: the event loop, the bus client, the codec
# and SQLAlchemy core. A service's RSS minus this is what its own features cost.
FLOOR = "import asyncio, nats, msgspec, sqlalchemy, sys; print(1, flush=True); sys.stdin.read()"


def floor_rss_mb() -> float:
    """RSS of a bare Python process that imported only the floor every service shares."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FLOOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(0.5)
        return float(psutil.Process(proc.pid).memory_info().rss) / (1 << 20)
    finally:
        proc.kill()
        proc.wait()


def run(quick: bool) -> list[Figure]:
    floor = floor_rss_mb()
    with running_stack() as stack:
        memory = stack.memory()
    rss = sum(m.rss for m in memory.values())
    pss = sum(m.pss for m in memory.values())
    uss = sum(m.uss for m in memory.values())
    each = ", ".join(f"{name} {m.rss:.0f}" for name, m in sorted(memory.items()))
    # RSS counts a shared page (libpython, libcrypto, …) once per process that maps it;
    # PSS shares it out and USS leaves it out, so they bound what the stack really costs.
    note = (
        f"RSS MB per process: {each}; the same processes total PSS {pss:.0f} MB, USS {uss:.0f} MB"
    )
    nats = memory.get("nats-server")
    services = [memory[name].rss for name in SERVICES if name in memory]
    per_service = sum(services) / max(1, len(services))
    return [
        Figure(
            name="idle RSS, whole stack (supervisor + nats-server + 4 services)",
            value=rss,
            unit="MB",
            baseline_name="nats-server alone",
            baseline_value=nats.rss if nats else None,
            target=f"≤ {TARGET_MB:.0f} MB",
            met=rss <= TARGET_MB,
            note=note,
        ),
        Figure(
            name="idle RSS per Python service (mean of 4)",
            value=per_service,
            unit="MB",
            baseline_name="bare Python with asyncio, nats-py, msgspec, SQLAlchemy core",
            baseline_value=floor,
            note="the difference is what each service's own code and libraries hold at idle",
        ),
    ]
