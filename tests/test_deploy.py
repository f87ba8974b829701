"""deploy/: the nats-server configs parse, and the units start commands that exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.core.broker import nats_server_binary
from services.core.cli import SERVICE_COMMANDS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CONFIGS = sorted(DEPLOY.glob("nats/**/*.conf"))


@pytest.mark.parametrize("conf", CONFIGS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_nats_config_is_valid(conf: Path, tmp_path: Path) -> None:
    text = conf.read_text().replace("/var/lib/vigil/nats", str(tmp_path / "js"))
    local = tmp_path / conf.name
    local.write_text(text)
    proc = subprocess.run(
        [str(nats_server_binary()), "-t", "-c", str(local)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "is valid" in proc.stdout + proc.stderr


def test_there_is_a_config_for_single_cluster_and_leaf() -> None:
    names = {str(p.relative_to(DEPLOY / "nats")) for p in CONFIGS}
    assert {"single.conf", "leaf.conf", "cluster/n1.conf", "cluster/n2.conf"} <= names


@pytest.mark.parametrize("service", SERVICE_COMMANDS)
def test_systemd_unit_runs_the_service_command(service: str) -> None:
    unit = (DEPLOY / "systemd" / f"vigil-{service}.service").read_text()
    assert f"ExecStart=/opt/vigil/.venv/bin/vigil {service}\n" in unit
    assert "WantedBy=vigil.target" in unit
