"""Partitioning of the analyzer and alerts work over several instances (issue 10, DEPLOY §4).

One rule: a key belongs to partition ``crc32(key) % partitions``. crc32, not ``hash()``:
every process, on every host and Python version, must agree on the owner. With one
partition (the default) nothing changes: same durable names, files and RPC subjects.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from services.core import contracts


def stable_hash(key: str) -> int:
    """The same number for the same key in every process (unlike ``hash``, which is salted)."""
    return zlib.crc32(key.encode("utf-8"))


def owner(key: str, partitions: int) -> int:
    """The partition that owns ``key``."""
    return stable_hash(key) % partitions if partitions > 1 else 0


def host_owner(host: str, partitions: int) -> int:
    """The analyzer partition that stores ``host``'s metrics: hashed on its subject token,
    so ``vigil.metric.<host>.<group>`` alone decides (no need to decode the payload)."""
    return owner(contracts.token(host), partitions)


def subject_host(subject: str) -> str:
    """The ``<host>`` token of ``vigil.metric.<host>.<group>``."""
    parts = subject.split(".", 3)
    return parts[2] if len(parts) > 2 else ""


def suffix(partition: int, partitions: int) -> str:
    """``-p<k>`` for durable and file names when partitioned, else ``""`` (today's names)."""
    return f"-p{partition}" if partitions > 1 else ""


def rpc_token(partition: int, partitions: int) -> str:
    """The subject token between service and method: ``p<k>`` when partitioned, else ``""``."""
    return f"p{partition}" if partitions > 1 else ""


def api(service: str, method: str, partition: int = 0, partitions: int = 1) -> str:
    """``vigil.api.<service>.<method>``, or ``vigil.api.<service>.p<k>.<method>``."""
    token = rpc_token(partition, partitions)
    if not token:
        return contracts.api(service, method)
    return f"{contracts.PREFIX}.api.{contracts.token(service)}.{token}.{contracts.token(method)}"


async def claim_rpc_partition(bus: Any, service: str, token: str, health: Any) -> None:
    """Called from a partitioned service's ``start``: its queries go on ``p<k>`` subjects
    (the base class serves them after ``start``), while ``health`` also stays on the plain
    subject so that ``vigil status`` finds one instance of the service."""
    if not token:
        return
    await bus.serve(service, {"health": health}, partition="")
    bus.rpc_partition = token


async def watch_peers(
    bus: Any, service: str, partition: int, partitions: int, log: Any, every_s: float = 60.0
) -> None:
    """Warn while another partition does not answer: its share of the work is not being done
    (e.g. `vigil up`, which starts one instance of each service, with partitions > 1)."""
    missing: set[int] = set()
    while partitions > 1:
        await asyncio.sleep(every_s)
        for k in range(partitions):
            if k == partition:
                continue
            try:
                await bus.request(api(service, "health", k, partitions), {}, timeout=2.0)
                if k in missing:
                    missing.discard(k)
                    log.info("partition answers again", partition=k)
            except Exception:
                if k not in missing:
                    missing.add(k)
                    log.warning(
                        "partition does not answer: its share is not processed",
                        partition=k,
                        partitions=partitions,
                    )
