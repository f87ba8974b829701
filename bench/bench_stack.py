"""Whole-stack idle memory: nats-server plus the four services, right after start-up."""

from __future__ import annotations

from bench.common import Figure
from bench.stack import running_stack

TARGET_MB = 250.0


def run(quick: bool) -> list[Figure]:
    with running_stack() as stack:
        rss = stack.rss_mb()
    total = sum(rss.values())
    detail = ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(rss.items()))
    return [
        Figure(
            name="idle RSS, whole stack",
            value=total,
            unit="MB",
            baseline_name="nats-server alone",
            baseline_value=rss.get("nats-server"),
            target=f"≤ {TARGET_MB:.0f} MB",
            met=total <= TARGET_MB,
            note=detail,
        )
    ]
