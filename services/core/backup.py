"""``vigil backup`` / ``vigil restore``: every service's SQLite files and the config in one archive.

The backup is consistent while Vigil runs: each database is copied with SQLite's online
backup API (a transactionally consistent snapshot, WAL included) and checked with
``PRAGMA integrity_check`` before it goes into a tar.gz with a manifest of SHA-256
checksums. A restore refuses while Vigil answers on NATS or holds its HTTP port,
refuses an archive whose names, checksums or databases do not check out, keeps the
files it replaces under ``<data_dir>/pre-restore-<time>/``, and only then swaps them in.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import sys
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = "vigil-backup/1"
MANIFEST = "manifest.json"
SKIP_DIRS = {"backups", "nats", "logs"}


class BackupError(Exception):
    """A backup or restore problem, phrased for a person (names the file)."""


# ---------------------------------------------------------------- backup


def config_path(args_config: str | None = None) -> Path | None:
    """The vigil.toml in use (``--config``, ``$VIGIL_CONFIG`` or ./vigil.toml), if it exists."""
    raw = args_config or os.environ.get("VIGIL_CONFIG") or "vigil.toml"
    path = Path(raw).expanduser()
    return path if path.is_file() else None


def databases(data_dir: Path) -> list[Path]:
    """Every ``*.sqlite`` under the data dir, except in backups/, nats/ and logs/."""
    found = []
    for path in sorted(data_dir.rglob("*.sqlite")):
        rel = path.relative_to(data_dir)
        if rel.parts[0] in SKIP_DIRS or rel.parts[0].startswith("pre-restore-"):
            continue
        found.append(path)
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def integrity(path: Path) -> str:
    """``ok`` or SQLite's first complaint about ``path``."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return str(row[0]) if row else "no answer"


def snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a live database via the online backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=1024)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
    finally:
        dst.close()
        src.close()


def create_backup(
    data_dir: Path, dest: Path, config: Path | None, host: str = ""
) -> dict[str, Any]:
    """Write the archive ``dest``; returns its manifest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-backup-") as tmp:
        staged: list[tuple[str, Path]] = []
        for db in databases(data_dir):
            name = "data/" + db.relative_to(data_dir).as_posix()
            copy = Path(tmp) / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            try:
                snapshot(db, copy)
            except sqlite3.Error as exc:
                raise BackupError(f"{db}: cannot read the database: {exc}") from None
            verdict = integrity(copy)
            if verdict != "ok":
                raise BackupError(f"{db}: integrity check failed: {verdict}")
            staged.append((name, copy))
        if config is not None:
            copy = Path(tmp) / "config" / "vigil.toml"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, copy)
            staged.append(("config/vigil.toml", copy))
        for name, path in staged:
            files.append({"name": name, "size": path.stat().st_size, "sha256": sha256_file(path)})
        manifest = {"format": FORMAT, "created_at": time.time(), "host": host, "files": files}
        partial = dest.with_name(dest.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            raw = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(raw))
            for name, path in staged:
                tar.add(path, arcname=name, recursive=False)
        os.replace(partial, dest)
    return manifest


def default_archive(data_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return data_dir / "backups" / f"vigil-backup-{stamp}.tar.gz"


# ---------------------------------------------------------------- restore


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and "\\" not in name
        and (
            name == MANIFEST
            or name == "config/vigil.toml"
            or (len(path.parts) >= 2 and path.parts[0] == "data" and name.endswith(".sqlite"))
        )
    )


def check_archive(archive: Path, workdir: Path) -> dict[str, Any]:
    """Unpack into ``workdir`` after checking names, types, checksums and databases."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive}: not a Vigil backup (tar.gz): {exc}") from None
    with tar:
        members = tar.getmembers()
        for m in members:
            if not m.isfile() or not _safe_name(m.name):
                raise BackupError(f"{archive}: refusing unexpected entry {m.name!r}")
        names = {m.name for m in members}
        if MANIFEST not in names:
            raise BackupError(f"{archive}: no {MANIFEST}; not a Vigil backup")
        manifest_file = tar.extractfile(MANIFEST)
        assert manifest_file is not None
        try:
            manifest = json.loads(manifest_file.read())
        except ValueError as exc:
            raise BackupError(f"{archive}: {MANIFEST} is not JSON: {exc}") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{archive}: unknown format {manifest.get('format')!r}")
        listed = {f["name"]: f for f in manifest.get("files", [])}
        if set(listed) != names - {MANIFEST}:
            raise BackupError(f"{archive}: the manifest does not match the archive's files")
        for m in members:
            if m.name == MANIFEST:
                continue
            target = workdir / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(m)
            assert source is not None
            with target.open("wb") as out:
                shutil.copyfileobj(source, out)
    for name, entry in listed.items():
        path = workdir / name
        if sha256_file(path) != entry.get("sha256"):
            raise BackupError(f"{archive}: {name}: checksum mismatch (archive damaged)")
        if name.endswith(".sqlite"):
            verdict = integrity(path)
            if verdict != "ok":
                raise BackupError(f"{archive}: {name}: integrity check failed: {verdict}")
    return manifest


def vigil_running(settings: Any) -> str:
    """Why Vigil seems to be running ('' when it does not)."""
    cfg = settings.gateway
    with socket.socket() as probe:
        probe.settimeout(0.5)
        host = "127.0.0.1" if cfg.bind in {"0.0.0.0", ""} else cfg.bind
        if probe.connect_ex((host, cfg.port)) == 0:
            return f"something listens on the gateway port {host}:{cfg.port}"
    import asyncio

    return asyncio.run(_any_service_answers(settings))


async def _any_service_answers(settings: Any) -> str:
    import nats

    try:
        nc = await nats.connect(
            servers=settings.nats.servers, connect_timeout=1, allow_reconnect=False
        )
    except Exception:
        return ""
    try:
        for name in ("ingest", "analyzer", "alerts", "gateway"):
            try:
                await nc.request(f"vigil.api.{name}.health", b"{}", timeout=0.7)
                return f"the {name} service answers on NATS"
            except Exception:
                continue
        return ""
    finally:
        await nc.close()


def restore(data_dir: Path, archive: Path, config: Path | None) -> list[str]:
    """Check ``archive`` fully, then swap its files in; returns what was restored."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vigil-restore-", dir=data_dir) as tmp:
        work = Path(tmp)
        manifest = check_archive(archive, work)
        keep = data_dir / f"pre-restore-{time.strftime('%Y%m%d-%H%M%S')}"
        done = []
        for entry in manifest["files"]:
            name = entry["name"]
            if name == "config/vigil.toml":
                if config is None:
                    continue
                target = config
            else:
                target = data_dir / name.removeprefix("data/")
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                old = target.with_name(target.name + suffix)
                if old.exists():
                    keep.mkdir(exist_ok=True)
                    shutil.move(str(old), keep / old.name)
            staged = target.with_name(target.name + ".restoring")
            shutil.copyfile(work / name, staged)
            os.replace(staged, target)
            done.append(name)
    return done


# ---------------------------------------------------------------- CLI


def add_to(sub: Any, common: argparse.ArgumentParser) -> None:
    backup = sub.add_parser("backup", parents=[common], help="archive the databases and config")
    backup.add_argument("--output", "-o", help="archive path (default data_dir/backups/...)")
    rest = sub.add_parser("restore", parents=[common], help="restore an archive (Vigil stopped)")
    rest.add_argument("archive", help="a vigil-backup-*.tar.gz")
    rest.add_argument(
        "--no-config", action="store_true", help="restore the databases only, keep vigil.toml"
    )


def handles(command: str) -> bool:
    return command in {"backup", "restore"}


def run(command: str, settings: Any, args: argparse.Namespace) -> int:
    data_dir = settings.data_path
    try:
        if command == "backup":
            dest = Path(args.output).expanduser() if args.output else default_archive(data_dir)
            manifest = create_backup(data_dir, dest, config_path(args.config), settings.host)
            print(f"vigil backup: wrote {dest} ({len(manifest['files'])} files)")
            return 0
        why = vigil_running(settings)
        if why:
            print(f"vigil restore: stop Vigil first ({why})", file=sys.stderr)
            return 1
        config = None
        if not args.no_config:
            config = Path(args.config or os.environ.get("VIGIL_CONFIG") or "vigil.toml")
        done = restore(data_dir, Path(args.archive).expanduser(), config)
        print(f"vigil restore: restored {len(done)} files into {data_dir}")
        return 0
    except BackupError as exc:
        print(f"vigil {command}: {exc}", file=sys.stderr)
        return 1
