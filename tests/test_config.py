"""Settings: vigil.toml plus VIGIL_* overrides, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.core.config import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "vigil.example.toml"


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = load_settings(None, environ={"VIGIL_CONFIG": str(tmp_path / "absent.toml")})
    assert s.gateway.port == 8089
    assert s.nats.embedded
    assert s.ingest.sources[0].include == ["*작업이벤트로그*.csv"]


def test_the_documented_example_loads() -> None:
    s = load_settings(EXAMPLE, environ={})
    assert s.gateway.port == 8089


def test_environment_overrides_file_values(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text('data_dir = "/a"\n[gateway]\nport = 9000\n')
    s = load_settings(
        cfg, environ={"VIGIL_GATEWAY_PORT": "9100", "VIGIL_NATS_URL": "nats://h:4222"}
    )
    assert s.gateway.port == 9100
    assert s.data_dir == "/a"
    assert s.nats.servers == ["nats://h:4222"]
    assert not s.nats.embedded


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[gateway]\nprot = 1\n", {}, "unknown setting 'gateway.prot'"),
        ('[gateway]\nport = "x"\n', {}, "gateway.port: Expected `int`, got `str`"),
        ("", {"VIGIL_GATEWAY_PORT": "abc"}, "gateway.port: Expected `int`, got `str`"),
        ("", {"VIGIL_NO_SUCH": "1"}, "VIGIL_NO_SUCH: no setting of that name"),
        ("[gateway\n", {}, "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_expectation(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_settings(cfg, environ=env)


def test_cli_reports_bad_config_in_one_line(tmp_path: Path, child_env: dict[str, str]) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text("[gateway]\nport = 'eighty'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=child_env,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "gateway.port" in lines[0] and "Traceback" not in proc.stderr
