"""Plain SQLAlchemy tables generated from SQLModel schemas, so a service can run without SQLModel.

SQLModel stays the schema tool: the tables are declared as SQLModel classes (the
``source`` module of each target below). Importing SQLModel, though, costs a service
~13 MB resident (pydantic, SQLAlchemy's ORM, SQLModel itself) when its hot path only
needs SQLAlchemy core. So each target module is *generated* from its SQLModel source:
``Table`` objects on their own ``MetaData``, with the same columns, types, defaults,
keys and indexes (hence the same DDL). ``tests/test_tablegen.py`` fails when a target
is out of date or its DDL differs from the source's.

    python -m services.core.tablegen     # rewrite every target
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINE_LENGTH = 100  # ruff's, from pyproject.toml: the output needs no reformatting

# generated module (path from the repository root) → SQLModel source module
TARGETS: dict[str, str] = {
    "services/alerts/store_tables.py": "services.alerts.store_models",
    "services/analyzer/history/tables.py": "services.analyzer.history.models",
    "services/analyzer/work/tables.py": "services.analyzer.work.models",
    "services/gateway/auth/tables.py": "services.gateway.auth.models",
    "services/ingest/programs/store_tables.py": "services.ingest.programs.store_models",
    "services/ingest/targets/store_tables.py": "services.ingest.targets.store_models",
    "services/ingest/tail/checkpoint_tables.py": "services.ingest.tail.checkpoint_models",
}

# SQLModel's column types → the plain SQLAlchemy type with the same DDL.
_TYPES = {
    "AutoString": "String",
    "String": "String",
    "Integer": "Integer",
    "BigInteger": "BigInteger",
    "Float": "Float",
    "Boolean": "Boolean",
    "LargeBinary": "LargeBinary",
    "DateTime": "DateTime",
}


def source_tables(source: str) -> list[Any]:
    """The tables of the SQLModel classes defined in module ``source``, in definition order."""
    module = _import_source(source)
    tables = []
    for value in vars(module).values():
        table = getattr(value, "__table__", None)
        if table is not None and getattr(value, "__module__", "") == source:
            tables.append(table)
    return tables


def _import_source(source: str) -> Any:
    """Module ``source`` executed from its file, without importing its package first.

    A package's ``__init__`` usually imports the runtime code, which imports the
    generated module: loading the source on its own lets a missing or broken target
    be (re)generated.
    """
    if source in sys.modules:
        return sys.modules[source]
    spec = importlib.util.spec_from_file_location(source, ROOT / f"{source.replace('.', '/')}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no source module {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[source] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[source]
        raise
    return module


def _lit(value: Any) -> str:
    """A literal as ruff format writes it (double quotes), so the output needs no reformat."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no literal for {value!r}")
        return repr(value).replace("e+", "e")  # 1e18, as ruff format writes 1e+18
    if isinstance(value, bool | int) or value is None:
        return repr(value)
    raise ValueError(f"no literal for {value!r}")


def _own_index(col: Any) -> bool:
    """Whether the column declares its index itself (``Field(index=True)``)."""
    return bool(col.index)


def _call(name: str, args: list[str], indent: int) -> str:
    """``name(args),`` laid out as ruff format lays it out within the line length."""
    pad, inner = " " * indent, " " * (indent + 4)
    flat = f"{pad}{name}({', '.join(args)}),"
    if len(flat) <= LINE_LENGTH:
        return flat
    hugged = f"{inner}{', '.join(args)}"
    if len(hugged) <= LINE_LENGTH:
        return f"{pad}{name}(\n{hugged}\n{pad}),"
    return "\n".join([f"{pad}{name}(", *(f"{inner}{a}," for a in args), f"{pad}),"])


def _column(col: Any) -> str:
    kind = type(col.type).__name__
    if kind not in _TYPES:
        raise ValueError(f"{col.table.name}.{col.name}: no plain type for {kind}")
    args = [_lit(col.name), f"{_TYPES[kind]}()"]
    if col.primary_key:
        args.append("primary_key=True")
    if col.autoincrement != "auto":
        args.append(f"autoincrement={col.autoincrement!r}")
    args.append(f"nullable={col.nullable!r}")
    if col.unique:
        args.append("unique=True")
    if _own_index(col):
        args.append("index=True")  # named ix_<table>_<column>, unique when the column is
    if col.default is not None:
        if not getattr(col.default, "is_scalar", False):
            raise ValueError(f"{col.table.name}.{col.name}: only scalar defaults are generated")
        args.append(f"default={_lit(col.default.arg)}")
    if col.server_default is not None:
        raise ValueError(f"{col.table.name}.{col.name}: server defaults are not generated")
    return _call("Column", args, indent=4)


def _table(table: Any) -> list[str]:
    lines = [f"{table.name} = Table(", f"    {_lit(table.name)},", "    metadata,"]
    lines += [_column(col) for col in table.columns]
    own = {f"ix_{table.name}_{col.name}" for col in table.columns if _own_index(col)}
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if index.name in own:
            continue
        cols = [_lit(c.name) for c in index.columns]
        unique = ["unique=True"] if index.unique else []
        lines.append(_call("Index", [_lit(index.name), *cols, *unique], indent=4))
    for key, value in sorted(table.dialect_kwargs.items()):
        lines.append(f"    {key}={_lit(value)},")
    lines.append(")")
    return lines


def _from_import(module: str, names: list[str]) -> str:
    flat = f"from {module} import {', '.join(names)}"
    if len(flat) <= LINE_LENGTH:
        return flat
    return "\n".join([f"from {module} import (", *(f"    {n}," for n in names), ")"])


def render(target: str) -> str:
    """The text of generated module ``target``."""
    source = TARGETS[target]
    tables = source_tables(source)
    body: list[str] = []
    for table in tables:
        body += ["", *_table(table)]
    used = {"Column", "MetaData", "Table"} | {
        _TYPES[type(c.type).__name__] for t in tables for c in t.columns
    }
    if any(line.lstrip().startswith("Index(") for line in body):
        used.add("Index")
    lines = [
        '"""GENERATED by `python -m services.core.tablegen`: do not edit.',
        "",
        f"Source: {source} (SQLModel classes).",
        "The same tables as SQLAlchemy core, so the service using them never imports SQLModel.",
        '"""',
        "",
        _from_import("sqlalchemy", sorted(used)),
        "",
        "metadata = MetaData()",
        *body,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    for target in TARGETS:
        path = ROOT / target
        text = render(target)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
