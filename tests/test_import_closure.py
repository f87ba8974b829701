"""Idle services do not import what only some requests or notifications need (issue 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import loaded_modules

ROOT = Path(__file__).resolve().parents[1]


# module started at idle → what it must not import before its first use
LAZY = {
    # httpx (+ rich, click, pygments) on the first webhook, aiosmtplib on the first email
    "services.alerts.__main__": {"httpx", "aiosmtplib", "rich", "pygments"},
    # argon2 on the first password hashed or checked (the first admin of a first run)
    "services.gateway.__main__": {"argon2"},
}
# every service reads its own command line without argparse (startup.service_args)
for _service in ("alerts", "analyzer", "ingest", "gateway"):
    LAZY.setdefault(f"services.{_service}.__main__", set()).add("argparse")


def test_vigil_up_imports_no_logging_handlers_pickle_or_shutil() -> None:
    # logs.RotatingFile stands in for logging.handlers (which imports pickle and queue);
    # the parser sizes its help without shutil (bz2, lzma)
    code = (
        "import services.core.cli as c; c._without_tls(); c._parser(extras=False)\n"
        "import services.core.startup, services.core.supervisor, asyncio.subprocess"
    )
    assert not {"logging.handlers", "pickle", "_ssl", "shutil", "lzma"} & loaded_modules(code)


@pytest.mark.parametrize("module", sorted(LAZY))
def test_idle_service_imports_nothing_it_only_needs_later(module: str) -> None:
    loaded = loaded_modules(f"import {module}")
    assert module in loaded
    assert not LAZY[module] & loaded


def test_the_alerts_http_client_is_made_on_first_use() -> None:
    code = (
        "from services.alerts.receivers import Deliverer\n"
        "d = Deliverer.__new__(Deliverer); d._client = None\n"
        "assert 'httpx' not in __import__('sys').modules\n"
        "assert d.client is d.client and not d.client.follow_redirects"
    )
    assert "httpx" in loaded_modules(code)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--config", "/x/vigil.toml"],
        ["--config=/x/v.toml", "--log-level", "debug"],
        ["--log-level=info", "--config", "a b.toml", "--config", "last.toml"],
        ["--config="],
    ],
)
def test_service_args_read_what_argparse_reads(argv: list[str]) -> None:
    from services.core.startup import base_parser, service_args

    assert vars(service_args("p", argv)) == vars(base_parser("p").parse_args(argv))


@pytest.mark.parametrize(
    "argv", [["--bogus"], ["--config"], ["--config", "--log-level", "x"], ["stray"]]
)
def test_service_args_leave_anything_else_to_argparse(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.alerts", *argv], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 2
    assert out.stderr.startswith("usage: vigil alerts") and "error:" in out.stderr


def test_service_help_is_argparse_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.analyzer", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0 and "--log-level" in out.stdout
