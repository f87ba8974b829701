"""Shared fixtures: a real nats-server per test (random port, temporary JetStream dir)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings, Settings


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    """A real nats-server from the wheel with JetStream, on a port of its choosing."""
    broker = EmbeddedBroker(tmp_path / "broker", port=-1)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedBroker) -> str:
    return nats_server.client_url


@pytest.fixture
def make_settings(tmp_path: Path, nats_url: str) -> Callable[..., Settings]:
    """Settings pointing at the test broker and a temporary data dir; override any section."""

    def build(**sections: Any) -> Settings:
        tree: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "node": "testhost",
            "nats": {"url": nats_url},
        }
        tree.update(sections)
        return msgspec.convert(tree, Settings)

    return build


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(NatsSettings(url=nats_url), "test")
    await b.ensure_streams()
    try:
        yield b
    finally:
        await b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy (waiting on events is better; this is the fallback)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for `vigil` child processes: no stray VIGIL_* from the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}


def loaded_modules(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (import-closure checks)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return set(out.stdout.split())
