"""`vigil backup` / `vigil restore` as real child processes on real SQLite files."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from services.core.backup import BackupError, check_archive
from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import running_gateway


def _vigil(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.core.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _config(tmp_path: Path, data_dir: Path, nats_url: str, port: int) -> Path:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text(
        f'data_dir = "{data_dir}"\n[nats]\nurl = "{nats_url}"\n[gateway]\nport = {port}\n'
    )
    return cfg


@pytest.fixture
def env(child_env: dict[str, str]) -> dict[str, str]:
    repo = Path(__file__).resolve().parents[2]
    return {**child_env, "PYTHONPATH": str(repo)}


def _busy_db(path: Path, stop: threading.Event) -> threading.Thread:
    """A service-like WAL database being written while the backup runs."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, payload TEXT)")
    conn.commit()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("INSERT INTO rows VALUES (?, ?)", (n, "x" * 200))
            conn.commit()
        conn.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_online_backup_then_restore(tmp_path: Path, nats_url: str, env: dict[str, str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, nats_url, free_port())
    stop = threading.Event()
    writer = _busy_db(data / "analyzer.sqlite", stop)
    with sqlite3.connect(data / "alerts.sqlite") as db:
        db.execute("CREATE TABLE rules (name TEXT)")
        db.execute("INSERT INTO rules VALUES ('disk-full')")
    archive = tmp_path / "out" / "b.tar.gz"
    try:
        done = _vigil(["backup", "--config", str(cfg), "-o", str(archive)], env, tmp_path)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    names = sorted(f["name"] for f in manifest["files"])
    assert names == ["config/vigil.toml", "data/alerts.sqlite", "data/analyzer.sqlite"]
    work = tmp_path / "check"
    work.mkdir()
    check_archive(archive, work)
    # A consistent snapshot: rows 1..N with no hole, even though writes never paused.
    with sqlite3.connect(work / "data" / "analyzer.sqlite") as db:
        count, top = db.execute("SELECT count(*), max(n) FROM rows").fetchone()
    assert count >= 1 and count == top

    # Restore over changed data: the archive's state comes back, the old files are kept.
    with sqlite3.connect(data / "alerts.sqlite") as db:
        db.execute("DELETE FROM rules")
    done = _vigil(["restore", "--config", str(cfg), str(archive)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(data / "alerts.sqlite") as db:
        assert db.execute("SELECT name FROM rules").fetchall() == [("disk-full",)]
    with sqlite3.connect(data / "analyzer.sqlite") as db:
        assert db.execute("SELECT count(*) FROM rows").fetchone()[0] == count
    kept = list(data.glob("pre-restore-*/alerts.sqlite"))
    assert len(kept) == 1


def test_restore_refuses_damaged_or_hostile_archives(
    tmp_path: Path, nats_url: str, env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, nats_url, free_port())
    with sqlite3.connect(data / "gateway.sqlite") as db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES ('original')")
    archive = tmp_path / "good.tar.gz"
    assert (
        _vigil(["backup", "--config", str(cfg), "-o", str(archive)], env, tmp_path).returncode == 0
    )

    # Damaged: one database's bytes changed after the checksum was taken.
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src.getmembers():
            blob = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".sqlite"):
                blob = blob[:-10] + b"X" * 10
            member.size = len(blob)
            dst.addfile(member, io.BytesIO(blob))
    # Hostile: an entry that climbs out of the data directory.
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as dst:
        for name, blob in (("manifest.json", b"{}"), ("../../evil.sqlite", b"boom")):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            dst.addfile(info, io.BytesIO(blob))
    not_tar = tmp_path / "notes.tar.gz"
    not_tar.write_text("hello")

    for bad, words in ((damaged, "checksum"), (hostile, "unexpected entry"), (not_tar, "not a")):
        done = _vigil(["restore", "--config", str(cfg), str(bad)], env, tmp_path)
        assert done.returncode == 1, done.stdout
        assert words in done.stderr and str(bad) in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path.parent / "evil.sqlite").exists()
    with sqlite3.connect(data / "gateway.sqlite") as db:
        assert db.execute("SELECT v FROM t").fetchall() == [("original",)]
    with pytest.raises(BackupError):
        check_archive(hostile, tmp_path / "w")


async def test_restore_refuses_while_vigil_runs(
    tmp_path: Path, make_settings: Callable[..., Settings], nats_url: str, env: dict[str, str]
) -> None:
    port = free_port()
    settings = make_settings(gateway={"port": port})
    cfg = _config(tmp_path, settings.data_path, nats_url, port)
    async with running_gateway(settings):
        archive = tmp_path / "b.tar.gz"
        backup = await _run_async(["backup", "--config", str(cfg), "-o", str(archive)], env)
        assert backup[0] == 0, backup[2]
        code, _out, err = await _run_async(["restore", "--config", str(cfg), str(archive)], env)
        assert code == 1 and "stop Vigil first" in err


async def _run_async(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.core.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()
