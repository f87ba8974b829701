"""Generated core tables match their SQLModel source; light processes stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from services.core import tablegen
from tests.conftest import loaded_modules


def _ddl(table: object) -> list[str]:
    dialect = sqlite.dialect()
    out = [str(CreateTable(table).compile(dialect=dialect)).strip()]  # type: ignore[arg-type]
    indexes = getattr(table, "indexes", set())
    return out + sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in indexes)


@pytest.mark.parametrize("target", sorted(tablegen.TARGETS))
def test_generated_module_is_up_to_date(target: str) -> None:
    text = (tablegen.ROOT / target).read_text(encoding="utf-8")
    assert text == tablegen.render(target), f"run: python -m services.core.tablegen ({target})"


@pytest.mark.parametrize("target", sorted(tablegen.TARGETS))
def test_generated_tables_have_the_sources_ddl_and_defaults(target: str) -> None:
    module = tablegen.ROOT / target
    name = ".".join(module.relative_to(tablegen.ROOT).with_suffix("").parts)
    generated = __import__(name, fromlist=["metadata"]).metadata
    sources = tablegen.source_tables(tablegen.TARGETS[target])
    assert sorted(t.name for t in sources) == sorted(generated.tables)
    for source in sources:
        table = generated.tables[source.name]
        assert _ddl(table) == _ddl(source)
        for col in source.columns:
            twin = table.c[col.name]
            want = col.default.arg if col.default is not None else None
            got = twin.default.arg if twin.default is not None else None
            assert (got, twin.nullable, twin.primary_key) == (want, col.nullable, col.primary_key)


def test_render_refuses_what_it_cannot_copy() -> None:
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, text

    odd = Table("odd", MetaData(), Column("doc", JSON()))
    with pytest.raises(ValueError, match=r"odd\.doc: no plain type for JSON"):
        tablegen._table(odd)
    served = Table("served", MetaData(), Column("n", Integer(), server_default=text("0")))
    with pytest.raises(ValueError, match="server defaults"):
        tablegen._table(served)


LIGHT = [
    "services.gateway.__main__",
    "services.ingest.__main__",
    "services.analyzer.__main__",
    "services.alerts.__main__",
]


@pytest.mark.parametrize("module", LIGHT)
def test_service_runs_without_sqlmodel_or_pydantic(module: str) -> None:
    loaded = loaded_modules(f"import {module}")
    assert "sqlalchemy" in loaded  # it does use the generated tables
    assert not {"sqlmodel", "pydantic", "sqlalchemy.orm"} & loaded


def test_a_missing_target_can_be_generated() -> None:
    # The package of checkpoint_models imports the runtime code, which imports the
    # generated module: the source must load without it (a fresh process, nothing cached).
    target = "services/ingest/tail/checkpoint_tables.py"
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.endswith('checkpoint_tables'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "from services.core import tablegen\n"
        f"sys.stdout.write(tablegen.render({target!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tablegen.ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (tablegen.ROOT / target).read_text(encoding="utf-8")


def test_supervisor_imports_no_service_and_no_bus() -> None:
    code = "import services.core.cli as c; c._parser(extras=False); import services.core.supervisor"
    loaded = loaded_modules(code)
    heavy = {"nats", "sqlalchemy", "litestar", "sqlite3", "services.core.bus", "services.gateway"}
    assert not heavy & loaded


def test_long_lines_are_laid_out_as_ruff_format_does() -> None:
    from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table

    long = "a_column_name_long_enough_to_wrap_the_call"
    table = Table(
        "wide",
        MetaData(),
        Column("id", Integer(), primary_key=True),
        Column(long, String(), nullable=False, unique=True, index=True, default="x" * 30),
        Column(long + "_hugged_in_parens", LargeBinary(), nullable=True),  # fits in parentheses
        Column("big", Integer(), default=1e18),
        Column("small", Integer(), default=-2.5e-07),
        Index("ix_wide_" + long + "_and_id", long, "id", unique=True),
    )
    imports = tablegen._from_import("sqlalchemy", ["A" * 12 + str(i) for i in range(9)])
    text = "\n".join([imports, "", *tablegen._table(table)])
    assert max(len(line) for line in text.splitlines()) <= tablegen.LINE_LENGTH
    assert "default=1e18)" in text and "default=-2.5e-07)" in text
    assert (
        'Column(\n        "a_column_name_long_enough_to_wrap_the_call_hugged_in_parens", Large'
        in text
    )
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--diff", "--stdin-filename", "t.py", "-"],
        input=text + "\n",
        capture_output=True,
        text=True,
        cwd=tablegen.ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
