"""Start-up helpers light enough for the supervisor: settings, logging, checks, memory hygiene.

Nothing here imports the bus, the contracts or any service: ``vigil up`` (the
supervisor) imports only this, the broker and the settings, so that it stays small.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from services.core.config import ConfigError, Settings, load_settings
from services.core.logs import setup_logging

if TYPE_CHECKING:
    import argparse


class StartupError(Exception):
    """A service cannot start; the message is one line for a person."""


def ensure_writable(path: os.PathLike[str] | str) -> None:
    """Create ``path`` if needed and prove we can write in it."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # One probe per process: partitions of a service start side by side in one folder,
        # and a shared name let one unlink the other's probe (a spurious "not writable").
        probe = folder / f".vigil-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink(missing_ok=True)
    except OSError as exc:
        raise StartupError(
            f"data directory {folder} is not writable: {exc.strerror or exc}"
        ) from None


def check_port_free(host: str, port: int) -> None:
    """Fail early with one line when the HTTP port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {host} is already in use") from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def base_parser(prog: str) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", help="path to vigil.toml (default: ./vigil.toml)")
    parser.add_argument("--log-level", help="debug, info, warning or error")
    return parser


_SERVICE_OPTIONS = {"--config": "config", "--log-level": "log_level"}


def service_args(prog: str, argv: Sequence[str]) -> Any:
    """A service's ``--config PATH --log-level LEVEL`` (how the supervisor starts it).

    These plain forms are read here; anything else (--help, an unknown or abbreviated option,
    a missing value) goes to argparse, for its usual answer and exit status. Each service
    process is then 0.14 MB smaller: argparse, gettext and locale are not imported.
    """
    found: dict[str, str | None] = dict.fromkeys(_SERVICE_OPTIONS.values())
    rest = list(argv)
    while rest:
        option, eq, value = rest.pop(0).partition("=")
        if option not in _SERVICE_OPTIONS:
            return base_parser(prog).parse_args(argv)
        if not eq:
            if not rest or rest[0].startswith("-"):
                return base_parser(prog).parse_args(argv)
            value = rest.pop(0)
        found[_SERVICE_OPTIONS[option]] = value
    return SimpleNamespace(**found)


def load_or_exit(
    args: argparse.Namespace | SimpleNamespace, service: str, *, uses_data: bool = True
) -> Settings:
    """Settings from the command line's config, or one line on stderr and a non-zero exit."""
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"vigil {service}: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = args.log_level or settings.log.level
    if level.lower() not in {"debug", "info", "warning", "error"}:
        print(f"vigil {service}: --log-level: expected debug|info|warning|error", file=sys.stderr)
        raise SystemExit(2)
    if uses_data:
        try:
            ensure_writable(settings.data_path)
        except StartupError as exc:
            print(f"vigil {service}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    setup_logging(
        service,
        level,
        settings.data_path / "logs" if uses_data else None,
        max_bytes=settings.log.file_max_bytes,
        backups=settings.log.file_backups,
    )
    return settings


_malloc_trim: Any = None


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the OS (glibc ``malloc_trim``); False elsewhere.

    Start-up (imports, schema creation, a backfill) leaves megabytes of freed but
    still-mapped heap that glibc keeps for later; idle RSS then overstates what a
    service needs. Cheap (a few ms), so callers run it after each large transient job.
    """
    global _malloc_trim
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _malloc_trim is None:
            import ctypes  # here: the supervisor never needs it

            # The process's own symbols include libc's; no find_library (it runs ldconfig).
            _malloc_trim = ctypes.CDLL(None).malloc_trim
        return bool(_malloc_trim(0))
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        return False
