"""Whole-stack idle memory: `vigil up` itself, nats-server and the four services, once ready."""

from __future__ import annotations

from bench.common import Figure
from bench.stack import running_stack

TARGET_MB = 250.0


def run(quick: bool) -> list[Figure]:
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
        )
    ]
