"""Checks on a program definition, phrased for a person (what is wrong, with which field)."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import msgspec

from services.core.config.programs import ProgramSpec

_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class SpecError(ValueError):
    """A program definition that cannot be used; the message names the field."""


def parse_signal(name: str) -> signal.Signals:
    """``SIGTERM``, ``TERM`` or ``15`` → the signal; SpecError otherwise."""
    text = name.strip().upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text))
        except ValueError:
            raise SpecError(f"stop_signal: no signal number {text}") from None
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return signal.Signals[text]
    except KeyError:
        raise SpecError(f"stop_signal: unknown signal {name!r}") from None


def check_static(spec: ProgramSpec) -> None:
    """What can be checked without touching the machine: ids, numbers, signal, regex."""
    if not _ID.match(spec.id):
        raise SpecError(f"id: {spec.id!r} must be 1-64 ASCII letters, digits, '_' or '-'")
    if not spec.argv and spec.match.empty:
        raise SpecError(f"{spec.id}: give argv (a list, never a shell string) or a match rule")
    if any(not isinstance(a, str) for a in spec.argv) or (spec.argv and not spec.argv[0]):
        raise SpecError(f"{spec.id}: argv[0] (the executable) is empty")
    parse_signal(spec.stop_signal)
    for field in ("max_retries", "output_backups"):
        if getattr(spec, field) < 0:
            raise SpecError(f"{spec.id}: {field} must be 0 or more")
    for field in ("backoff_initial_s", "backoff_max_s", "stop_timeout_s", "start_secs"):
        if getattr(spec, field) < 0:
            raise SpecError(f"{spec.id}: {field} must be 0 or more")
    if spec.output_max_bytes < 1024:
        raise SpecError(f"{spec.id}: output_max_bytes must be at least 1024")
    if spec.match.cmdline_regex:
        try:
            re.compile(spec.match.cmdline_regex)
        except re.error as exc:
            raise SpecError(f"{spec.id}: match.cmdline_regex: {exc}") from None


def resolve_executable(spec: ProgramSpec) -> str:
    """The path that will be executed, or SpecError saying why it cannot be."""
    exe = spec.argv[0]
    cwd = Path(spec.cwd) if spec.cwd else None
    if cwd is not None and not cwd.is_dir():
        raise SpecError(f"working directory {spec.cwd} does not exist")
    if os.sep in exe or (os.altsep and os.altsep in exe):
        path = Path(exe) if Path(exe).is_absolute() or cwd is None else cwd / exe
        if not path.exists():
            raise SpecError(f"executable {exe} not found")
        if path.is_dir() or not os.access(path, os.X_OK):
            raise SpecError(f"{exe} is not an executable file")
        return str(path)
    search = spec.env.get("PATH", os.environ.get("PATH", os.defpath))
    found = shutil.which(exe, path=search)
    if found is None:
        raise SpecError(f"executable {exe!r} not found on PATH")
    return found


def decode_spec(data: bytes | dict[str, object]) -> ProgramSpec:
    """A ProgramSpec from an API payload; SpecError names the bad field."""
    try:
        if isinstance(data, bytes):
            spec = msgspec.json.decode(data, type=ProgramSpec)
        else:
            spec = msgspec.convert(data, ProgramSpec)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SpecError(f"program definition: {exc}") from None
    check_static(spec)
    return spec
