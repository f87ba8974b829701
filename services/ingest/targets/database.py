"""Database checks through a SQLAlchemy URL: ping time, connections, table sizes, slow queries.

PostgreSQL: connections from pg_stat_activity, slow queries (active longer than
the threshold), table rows and bytes of the largest user tables. SQLite: file
size and each table's row count, opened read-only so a check never creates or
changes the file. Drivers are synchronous, so a check runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from services.core.config.targets import TargetSpec
from services.ingest.targets.result import CheckResult, Status, sample

EXACT_COUNT_BELOW_BYTES = 8_000_000

PG_TABLES = sa.text(
    "SELECT schemaname, relname, n_live_tup, pg_total_relation_size(relid) AS bytes "
    "FROM pg_stat_user_tables ORDER BY bytes DESC LIMIT :n"
)
PG_CONNECTIONS = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
)
PG_SLOW = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND state = 'active' AND pid <> pg_backend_pid() "
    "AND now() - query_start > make_interval(secs => :secs)"
)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DatabaseProbe:
    """Checks one database; the engine is built on first use and disposed on close."""

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self._engine: sa.Engine | None = None
        self._secret = ""

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _build(self, secret: str) -> sa.Engine:
        url = make_url(self.spec.url)
        if url.get_backend_name() == "sqlite":
            path = url.database or ""
            timeout = self.spec.timeout_s

            def read_only() -> sqlite3.Connection:
                return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)

            return sa.create_engine("sqlite://", creator=read_only, poolclass=NullPool)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if secret:
            url = url.set(password=secret)
        args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            statement_ms = int(self.spec.timeout_s * 1000)
            args = {
                "connect_timeout": max(1, math.ceil(self.spec.timeout_s)),
                "options": f"-c statement_timeout={statement_ms}",
            }
        return sa.create_engine(url, poolclass=NullPool, connect_args=args)

    def engine(self, secret: str) -> sa.Engine:
        if self._engine is None or secret != self._secret:
            self.close()
            self._engine, self._secret = self._build(secret), secret
        return self._engine

    async def check(self, secret: str) -> CheckResult:
        return await asyncio.to_thread(self.check_sync, secret)

    def check_sync(self, secret: str) -> CheckResult:
        spec = self.spec
        down = [sample("target.up", 0, spec.id)]
        try:
            url = make_url(spec.url)
        except ArgumentError as exc:
            return CheckResult(status="down", reason=f"url: {exc}", samples=down)
        backend = url.get_backend_name()
        if backend == "sqlite" and not (url.database and os.path.isfile(url.database)):
            return CheckResult(
                status="down", reason=f"SQLite file not found: {url.database}", samples=down
            )
        started = time.perf_counter()
        try:
            with self.engine(secret).connect() as conn:
                connected = time.perf_counter()
                conn.execute(sa.text("SELECT 1")).scalar()
                ping_ms = (time.perf_counter() - connected) * 1000
                connect_ms = (connected - started) * 1000
                samples, info = (
                    self._postgres(conn) if backend == "postgresql" else self._sqlite(conn, url)
                )
        except NoSuchModuleError as exc:
            return CheckResult(status="down", reason=f"no driver: {exc}", samples=down)
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            return CheckResult(status="down", reason=_first_line(exc), samples=down)
        total_ms = round((time.perf_counter() - started) * 1000, 2)
        samples[:0] = [
            sample("target.up", 1, spec.id),
            sample("db.ping_ms", round(ping_ms, 3), spec.id),
            sample("db.connect_ms", round(connect_ms, 3), spec.id),
        ]
        info.update(ping_ms=round(ping_ms, 3), connect_ms=round(connect_ms, 3))
        status: Status = "up"
        reason = ""
        if ping_ms + connect_ms > spec.slow_query_ms:
            status = "degraded"
            reason = f"slow: ping {ping_ms + connect_ms:.0f} ms > {spec.slow_query_ms:g} ms"
        elif info.get("slow_queries"):
            status = "degraded"
            reason = f"{info['slow_queries']} queries running longer than {spec.slow_query_ms:g} ms"
        return CheckResult(
            status=status, reason=reason, response_ms=total_ms, samples=samples, info=info
        )

    def _postgres(self, conn: Connection) -> tuple[list[Any], dict[str, Any]]:
        spec = self.spec
        connections = int(conn.execute(PG_CONNECTIONS).scalar() or 0)
        limit = int(conn.execute(sa.text("SHOW max_connections")).scalar() or 0)
        slow = int(conn.execute(PG_SLOW, {"secs": spec.slow_query_ms / 1000}).scalar() or 0)
        samples = [
            sample("db.connections", connections, spec.id),
            sample("db.connections_max", limit, spec.id),
            sample("db.slow_queries", slow, spec.id),
        ]
        tables: dict[str, dict[str, float]] = {}
        for schema, name, estimate, size in conn.execute(PG_TABLES, {"n": spec.max_tables}):
            label = name if schema == "public" else f"{schema}.{name}"
            rows = int(estimate or 0)
            if size < EXACT_COUNT_BELOW_BYTES:
                # Small tables: an exact count is cheap and the estimate may lag.
                query = f"SELECT count(*) FROM {_quote(schema)}.{_quote(name)}"
                rows = int(conn.execute(sa.text(query)).scalar() or 0)
            tables[label] = {"rows": rows, "bytes": int(size)}
            samples.append(sample("db.table_rows", rows, spec.id, table=label))
            samples.append(sample("db.table_bytes", int(size), spec.id, table=label))
        info = {"connections": connections, "max_connections": limit, "slow_queries": slow}
        return samples, {**info, "tables": tables}

    def _sqlite(self, conn: Connection, url: sa.URL) -> tuple[list[Any], dict[str, Any]]:
        spec = self.spec
        path = url.database or ""
        size = os.path.getsize(path)
        wal = f"{path}-wal"
        if os.path.exists(wal):
            size += os.path.getsize(wal)
        names = conn.execute(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT :n"
            ),
            {"n": spec.max_tables},
        ).scalars()
        samples = [sample("db.file_bytes", size, spec.id)]
        tables: dict[str, dict[str, float]] = {}
        for name in list(names):
            rows = int(conn.execute(sa.text(f"SELECT count(*) FROM {_quote(name)}")).scalar() or 0)
            tables[name] = {"rows": rows}
            samples.append(sample("db.table_rows", rows, spec.id, table=name))
        return samples, {"file_bytes": size, "tables": tables}
