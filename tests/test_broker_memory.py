"""The embedded nats-server gets Go's soft memory limit from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.broker import EmbeddedBroker
from services.core.config import NatsSettings


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


@pytest.mark.parametrize(("limit", "expected"), [(64, "64MiB"), (0, None)])
async def test_memory_limit_reaches_nats_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, expected: str | None
) -> None:
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    broker = EmbeddedBroker(tmp_path / "broker", port=-1, memory_limit_mb=limit)
    await broker.start()
    try:
        assert broker.proc is not None
        assert _environ(broker.proc.pid).get("GOMEMLIMIT") == expected
    finally:
        await broker.stop()


async def test_operator_gomemlimit_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMEMLIMIT", "200MiB")
    broker = EmbeddedBroker(tmp_path / "broker", port=-1, memory_limit_mb=64)
    await broker.start()
    try:
        assert broker.proc is not None
        assert _environ(broker.proc.pid)["GOMEMLIMIT"] == "200MiB"
    finally:
        await broker.stop()


def test_default_setting_is_a_limit() -> None:
    assert NatsSettings().memory_limit_mb == 64
