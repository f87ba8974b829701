"""Render docs/CONFIG.md, every setting with its type, default and the comment beside it in
the code: ``python -m services.core.configdoc > docs/CONFIG.md`` (a test keeps it current)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import msgspec

from services.core.config import Settings

_FIELD = re.compile(r"^\s+(\w+)\s*:\s*[^=]+?(?:=.*)?$")


def _comments(cls: type) -> dict[str, str]:
    """The ``#`` comment lines above (or at the end of) each field in the class source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# ").strip())
            continue
        match = _FIELD.match(line)
        if match and not stripped.startswith(("def ", "@", "return", '"""')):
            inline = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            found[match.group(1)] = " ".join([*pending, inline]).strip()
        pending = []
    return found


def _type_name(t: Any) -> str:
    if isinstance(t, msgspec.inspect.ListType):
        return f"list[{_type_name(t.item_type)}]"
    if isinstance(t, msgspec.inspect.DictType):
        return f"dict[{_type_name(t.key_type)}, {_type_name(t.value_type)}]"
    if isinstance(t, msgspec.inspect.UnionType):
        return " | ".join(_type_name(x) for x in t.types)
    if isinstance(t, msgspec.inspect.LiteralType):
        return " | ".join(repr(v) for v in t.values)
    if isinstance(t, msgspec.inspect.StructType):
        return t.cls.__name__
    return type(t).__name__.removesuffix("Type").lower()


def _default(field: msgspec.inspect.Field) -> str:
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, msgspec.Struct):
        return "(table)"
    return f"`{msgspec.json.encode(value).decode()}`"


def _section(cls: type, path: str, out: list[str], seen: set[type]) -> None:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    comments = _comments(cls)
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    out += [f"## `{path or '(top level)'}`", "", doc, "", "| key | type | default | meaning |"]
    out.append("|---|---|---|---|")
    nested: list[tuple[type, str]] = []
    for field in info.fields:
        out.append(
            f"| `{field.name}` | {_type_name(field.type)} | {_default(field)} "
            f"| {comments.get(field.name, '').replace('|', '/')} |"
        )
        inner = field.type
        if isinstance(inner, msgspec.inspect.ListType):
            inner = inner.item_type
        if isinstance(inner, msgspec.inspect.StructType) and inner.cls not in seen:
            seen.add(inner.cls)
            suffix = "[]" if isinstance(field.type, msgspec.inspect.ListType) else ""
            nested.append((inner.cls, f"{path + '.' if path else ''}{field.name}{suffix}"))
    out.append("")
    for sub, sub_path in nested:
        _section(sub, sub_path, out, seen)


def render() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the settings structs by `python -m services.core.configdoc > "
        "docs/CONFIG.md`; a test fails when they differ. `vigil.example.toml` is a commented "
        "starting point. Every key can be overridden from the environment as "
        "`VIGIL_<PATH>` in capitals, dots as underscores (e.g. `VIGIL_GATEWAY_PORT`). "
        "Tables marked `[]` are arrays of tables (`[[ingest.sources]]`).",
        "",
    ]
    _section(Settings, "", out, {Settings})
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
