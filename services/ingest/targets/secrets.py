"""Resolve a target's secret from an environment variable or the secrets file, at use time."""

from __future__ import annotations

import os
from pathlib import Path

from services.core.config.targets import TargetSpec


class SecretMissing(Exception):
    """The named secret is not set; the message names where it was looked for."""


def read_secrets_file(path: str) -> dict[str, str]:
    """Parse ``NAME=value`` lines (``#`` comments, blank lines ignored; quotes stripped)."""
    values: dict[str, str] = {}
    if not path:
        return values
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretMissing(f"secrets file {file}: {exc.strerror or exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise SecretMissing(f"secrets file {file} line {number}: expected NAME=value")
        name, value = stripped.split("=", 1)
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def resolve_secret(spec: TargetSpec, secrets_file: str) -> str:
    """The secret ``spec`` names ("" when it names none)."""
    if spec.secret_env:
        value = os.environ.get(spec.secret_env)
        if value is None:
            raise SecretMissing(f"environment variable {spec.secret_env} is not set")
        return value
    if spec.secret_key:
        values = read_secrets_file(secrets_file)
        if not secrets_file:
            raise SecretMissing(f"secret_key {spec.secret_key}: no secrets_file configured")
        if spec.secret_key not in values:
            raise SecretMissing(f"secret {spec.secret_key} not in secrets file {secrets_file}")
        return values[spec.secret_key]
    return ""
