"""The programs database schema (<data_dir>/ingest-programs.sqlite): API programs, runtimes.

The source of ``store_tables.py`` (``python -m services.core.tablegen``); the service
itself uses the generated core tables and never imports this module.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ProgramRow(SQLModel, table=True):
    """A program registered over the API (programs from vigil.toml are not stored)."""

    __tablename__ = "ingest_program"
    id: str = Field(primary_key=True)
    spec: str
    updated_at: float = 0.0


class RuntimeRow(SQLModel, table=True):
    """The process Vigil started for a program, so a restarted ingest can adopt it."""

    __tablename__ = "ingest_program_runtime"
    id: str = Field(primary_key=True)
    pid: int
    create_time: float
    started_at: float
    restart_count: int = 0
    last_exit_code: int | None = None
