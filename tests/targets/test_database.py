"""Database checks against real SQLite files and a real PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from services.core.config.targets import TargetSpec
from services.ingest.targets.database import DatabaseProbe
from tests.conftest import free_port
from tests.targets.conftest import PG_PASSWORD


def _samples(result, name):  # type: ignore[no-untyped-def]
    return {s.labels.get("table", ""): s.value for s in result.samples if s.name == name}


def _make_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    conn.execute('CREATE TABLE "odd ""name""" (x)')
    conn.executemany("INSERT INTO orders (item) VALUES (?)", [(f"i{n}",) for n in range(250)])
    conn.execute('INSERT INTO "odd ""name""" VALUES (1)')
    conn.commit()
    conn.close()


async def test_sqlite_file_size_and_row_counts(tmp_path: Path) -> None:
    db = tmp_path / "plant.db"
    _make_sqlite(db)
    before = db.read_bytes()
    probe = DatabaseProbe(TargetSpec(id="plant", kind="database", url=f"sqlite:///{db}"))
    result = await probe.check("")
    probe.close()
    assert result.status == "up", result.reason
    assert _samples(result, "db.table_rows") == {"orders": 250, 'odd "name"': 1}
    assert _samples(result, "db.file_bytes")[""] == db.stat().st_size
    assert _samples(result, "db.ping_ms")[""] >= 0
    assert db.read_bytes() == before  # opened read-only


async def test_sqlite_missing_file_and_not_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    probe = DatabaseProbe(TargetSpec(id="x", kind="database", url=f"sqlite:///{missing}"))
    result = await probe.check("")
    assert result.status == "down" and result.reason == f"SQLite file not found: {missing}"
    assert not missing.exists()  # a check never creates the file
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    probe = DatabaseProbe(TargetSpec(id="x", kind="database", url=f"sqlite:///{junk}"))
    result = await probe.check("")
    probe.close()
    assert result.status == "down" and "not a database" in result.reason


async def test_sqlite_slow_threshold_degrades(tmp_path: Path) -> None:
    db = tmp_path / "plant.db"
    _make_sqlite(db)
    spec = TargetSpec(id="p", kind="database", url=f"sqlite:///{db}", slow_query_ms=0.0001)
    result = await DatabaseProbe(spec).check("")
    assert result.status == "degraded" and result.reason.startswith("slow: ping")


@pytest.fixture
def pg_table(postgres_url: str) -> str:
    dsn = postgres_url.replace("postgres@", f"postgres:{PG_PASSWORD}@")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS shipments")
        conn.execute("CREATE TABLE shipments (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO shipments (note) SELECT 'n' || g FROM generate_series(1, 1234) g")
    return postgres_url


async def test_postgres_connections_and_table_sizes(pg_table: str) -> None:
    spec = TargetSpec(id="pg", kind="database", url=pg_table, secret_env="VIGIL_TEST_PG_PW")
    probe = DatabaseProbe(spec)
    result = await probe.check(PG_PASSWORD)
    probe.close()
    assert result.status == "up", result.reason
    assert _samples(result, "db.table_rows")["shipments"] == 1234
    assert _samples(result, "db.table_bytes")["shipments"] > 8192
    assert _samples(result, "db.connections")[""] >= 1  # our own session at least
    assert _samples(result, "db.connections_max")[""] >= 10
    assert _samples(result, "db.slow_queries")[""] == 0


async def test_postgres_wrong_password_and_no_server(postgres_url: str) -> None:
    probe = DatabaseProbe(TargetSpec(id="pg", kind="database", url=postgres_url))
    result = await probe.check("wrong-password")
    probe.close()
    assert result.status == "down"
    assert "password authentication failed" in result.reason
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = await DatabaseProbe(TargetSpec(id="pg", kind="database", url=url)).check("x")
    assert result.status == "down" and "refused" in result.reason.lower()


async def test_postgres_slow_query_is_counted(pg_table: str) -> None:
    import asyncio

    dsn = pg_table.replace("postgres@", f"postgres:{PG_PASSWORD}@")
    sleeper = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    task = asyncio.create_task(sleeper.execute("SELECT pg_sleep(3)"))
    try:
        spec = TargetSpec(id="pg", kind="database", url=pg_table, slow_query_ms=200)
        probe = DatabaseProbe(spec)
        result = None
        for _ in range(40):
            await asyncio.sleep(0.1)
            result = await probe.check(PG_PASSWORD)
            if result.status == "degraded":
                break
        probe.close()
        assert result is not None and result.status == "degraded", result
        assert _samples(result, "db.slow_queries")[""] == 1
        assert result.reason == "1 queries running longer than 200 ms"
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await sleeper.close()
