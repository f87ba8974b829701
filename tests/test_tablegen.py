"""Generated core tables match their SQLModel source; light processes stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from services.core import tablegen


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


def _loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tablegen.ROOT,
    )
    return set(out.stdout.split())


def test_gateway_runs_without_sqlmodel_or_pydantic() -> None:
    loaded = _loaded("import services.gateway.__main__")
    assert not {"sqlmodel", "pydantic", "sqlalchemy.orm"} & loaded


def test_supervisor_imports_no_service_and_no_bus() -> None:
    code = "import services.core.cli as c; c._parser(extras=False); import services.core.supervisor"
    loaded = _loaded(code)
    heavy = {"nats", "sqlalchemy", "litestar", "sqlite3", "services.core.bus", "services.gateway"}
    assert not heavy & loaded
