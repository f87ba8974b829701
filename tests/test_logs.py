"""Structured log lines: time, level, service, message, fields; secrets redacted; rotation."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.logs import get_logger, setup_logging


@pytest.fixture
def log_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    setup_logging("unit", "debug", tmp_path, max_bytes=2_000, backups=2)
    yield tmp_path
    logging.getLogger("vigil").handlers.clear()


def test_line_shape_and_fields(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("ingest").info("published", subject="vigil.work.packing", records=12, path="a b")
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO +ingest published "
        r'subject=vigil\.work\.packing records=12 path="a b"',
        line,
    ), line
    assert "published" in (log_dir / "unit.log").read_text()


def test_secrets_are_never_written(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("gateway").info("login", password="hunter2", api_key="vk_abc", user="kim")
    err = capsys.readouterr().err
    text = err + (log_dir / "unit.log").read_text()
    assert "hunter2" not in text and "vk_abc" not in text
    assert "password=***" in err and "user=kim" in err


def test_files_rotate_by_size(log_dir: Path) -> None:
    log = get_logger("analyzer")
    for n in range(200):
        log.info("filler line", n=n)
    files = sorted(p.name for p in log_dir.glob("unit.log*"))
    assert files == ["unit.log", "unit.log.1", "unit.log.2"]
    assert all(p.stat().st_size <= 2_200 for p in log_dir.glob("unit.log*"))
    # newest last: unit.log ends with the last line, unit.log.1 holds the lines before it
    newest, older = (log_dir / "unit.log").read_text(), (log_dir / "unit.log.1").read_text()
    assert newest.rstrip().endswith("n=199")
    first_new = int(newest.split("n=", 1)[1].split()[0])
    assert older.rstrip().endswith(f"n={first_new - 1}")
