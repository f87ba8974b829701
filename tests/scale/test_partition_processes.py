"""Partitioned services as real processes, configured only through VIGIL_* (as the systemd
templates and compose.scaled.yaml do): each answers on its own partition's subjects."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import msgspec
import pytest
import yaml

from services.core.bus import Bus
from services.core.config import NatsSettings
from services.core.partition import api
from tests.conftest import free_port, wait_for

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"


@pytest.mark.parametrize("service", ["alerts", "analyzer"])
async def test_two_processes_serve_their_partitions(
    service: str, bus: Bus, nats_url: str, tmp_path: Path, child_env: dict[str, str]
) -> None:
    procs = []
    try:
        for k in (0, 1):
            env = {
                **child_env,
                "VIGIL_NATS_URL": nats_url,
                "VIGIL_DATA_DIR": str(tmp_path / "data"),
                f"VIGIL_{service.upper()}_PARTITIONS": "2",
                f"VIGIL_{service.upper()}_PARTITION": str(k),
                "VIGIL_ALERTS_DEFAULT_RULES": "false",
            }
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", f"services.{service}", env=env, cwd=tmp_path
                )
            )

        async def health(k: int) -> dict[str, object] | None:
            try:
                raw = await bus.request(api(service, "health", k, 2), {}, timeout=1.0)
            except Exception:
                return None
            return dict(msgspec.json.decode(raw))

        for k in (0, 1):
            answer = await wait_for(lambda k=k: health(k), timeout=30, step=0.2)
            assert answer["pid"] == procs[k].pid and answer["detail"]["partition"] == k
        data = tmp_path / "data"
        stem = "alerts" if service == "alerts" else "analyzer-history"
        await wait_for(lambda: all((data / f"{stem}-p{k}.sqlite").exists() for k in (0, 1)))
        assert not (data / f"{stem}.sqlite").exists()
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 15)
    assert [p.returncode for p in procs] == [0, 0]


@pytest.mark.parametrize("service", ["alerts", "analyzer"])
def test_systemd_template_sets_the_partition(service: str) -> None:
    unit = (DEPLOY / "systemd" / f"vigil-{service}@.service").read_text()
    assert f"Environment=VIGIL_{service.upper()}_PARTITION=%i\n" in unit
    assert f"ExecStart=/opt/vigil/.venv/bin/vigil {service}\n" in unit


def test_scaled_compose_runs_every_partition_once() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.scaled.yaml").read_text())
    for service in ("alerts", "analyzer"):
        envs = [
            s["environment"]
            for s in compose["services"].values()
            if s["command"] == ["vigil", service]
        ]
        counts = {int(e[f"VIGIL_{service.upper()}_PARTITIONS"]) for e in envs}
        assert counts == {len(envs)}
        assert sorted(int(e[f"VIGIL_{service.upper()}_PARTITION"]) for e in envs) == [0, 1]
    gateway = compose["services"]["gateway"]["environment"]
    assert gateway["VIGIL_ALERTS_PARTITIONS"] == gateway["VIGIL_ANALYZER_PARTITIONS"] == "2"


@pytest.mark.slow
async def test_vigil_up_starts_every_partition(tmp_path: Path, child_env: dict[str, str]) -> None:
    nats_port = free_port()
    env = {
        **child_env,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_NATS_PORT": str(nats_port),
        "VIGIL_GATEWAY_PORT": str(free_port()),
        "VIGIL_CONFIG": str(tmp_path / "vigil.toml"),
        "VIGIL_ALERTS_PARTITIONS": "2",
        "VIGIL_ANALYZER_PARTITIONS": "2",
    }
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.core.cli", "up",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        settings = NatsSettings(url=f"nats://127.0.0.1:{nats_port}")
        bus = await Bus.connect(settings, "test", deadline_s=30)
        try:
            for service in ("alerts", "analyzer"):
                for k in (0, 1):

                    async def answers(s: str = service, p: int = k) -> bool:
                        try:
                            raw = await bus.request(api(s, "health", p, 2), {}, timeout=1.0)
                        except Exception:
                            return False
                        return bool(msgspec.json.decode(raw)["detail"]["partition"] == p)

                    await wait_for(answers, timeout=60, step=0.3)
        finally:
            await bus.close()
    finally:
        up.terminate()
        code = await asyncio.wait_for(up.wait(), 20)
    assert code == 0
