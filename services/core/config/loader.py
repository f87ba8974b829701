"""Read vigil.toml, overlay ``VIGIL_*`` environment variables, decode into Settings.

Environment names map onto the tree by underscores: ``VIGIL_DATA_DIR`` → ``data_dir``,
``VIGIL_NATS_URL`` → ``nats.url``, ``VIGIL_GATEWAY_PORT`` → ``gateway.port``. A value
is decoded as TOML when it parses as a TOML value (numbers, booleans, arrays),
otherwise it is taken as a string.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from services.core.config.model import Settings

DEFAULT_PATH = "vigil.toml"
# Variables that steer the launcher, not the settings tree.
_NOT_SETTINGS = {"VIGIL_CONFIG", "VIGIL_SERVICE", "VIGIL_CHILD"}


class ConfigError(Exception):
    """A problem with the configuration, phrased for a person: one line, key and expectation."""


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _struct_fields(kind: Any) -> dict[str, Any]:
    info = msgspec.inspect.type_info(kind)
    if isinstance(info, msgspec.inspect.StructType):
        return {f.name: f.type for f in info.fields}
    return {}


def _place(tree: dict[str, Any], kind: Any, parts: list[str], value: Any, name: str) -> None:
    """Find the longest field name made of leading ``parts`` and descend into it."""
    fields = _struct_fields(kind)
    for cut in range(len(parts), 0, -1):
        key = "_".join(parts[:cut])
        if key not in fields:
            continue
        rest = parts[cut:]
        if not rest:
            tree[key] = value
            return
        sub_type = fields[key]
        if isinstance(sub_type, msgspec.inspect.StructType):
            node = tree.setdefault(key, {})
            if isinstance(node, dict):
                _place(node, sub_type.cls, rest, value, name)
                return
    raise ConfigError(f"{name}: no setting of that name")


def apply_env(tree: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay every ``VIGIL_*`` variable onto ``tree`` (a copy is returned)."""
    merged = dict(tree)
    for name, raw in sorted(environ.items()):
        if not name.startswith("VIGIL_") or name in _NOT_SETTINGS:
            continue
        parts = name[len("VIGIL_") :].lower().split("_")
        _place(merged, Settings, parts, _env_value(raw), name)
    return merged


def _friendly(err: msgspec.ValidationError, origin: str) -> str:
    text = str(err)
    match = re.search(r" - at `\$\.?(.*)`$", text)
    where = match.group(1) if match else ""
    what = text[: match.start()] if match else text
    unknown = re.match(r"Object contains unknown field `(.+)`", what)
    if unknown:
        key = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
        return f"{origin}: unknown setting '{key}'"
    return f"{origin}: {where or '(top level)'}: {what}"


def config_path(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(explicit or env.get("VIGIL_CONFIG") or DEFAULT_PATH)


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the Settings once; raise ConfigError with one readable line on any problem."""
    env = os.environ if environ is None else environ
    file = config_path(str(path) if path else None, env)
    tree: dict[str, Any] = {}
    origin = str(file)
    if file.exists():
        try:
            tree = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    elif path is not None:
        raise ConfigError(f"{file}: no such config file")
    tree = apply_env(tree, env)
    if any(k.startswith("VIGIL_") and k not in _NOT_SETTINGS for k in env):
        origin = f"{origin} + VIGIL_* environment"
    try:
        settings = msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_friendly(exc, origin)) from None
    return settings
