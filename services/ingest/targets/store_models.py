"""The targets database schema (<data_dir>/ingest-targets.sqlite): API targets, last status.

The source of ``store_tables.py`` (``python -m services.core.tablegen``); the service
itself uses the generated core tables and never imports this module.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class TargetRegistryRow(SQLModel, table=True):
    """A target added over the API (targets from vigil.toml are not stored)."""

    __tablename__ = "target_registry"
    id: str = Field(primary_key=True)
    spec_json: str
    updated_at: float


class TargetLastStatusRow(SQLModel, table=True):
    """The last check result of a target, so a restart shows it before the first check."""

    __tablename__ = "target_last_status"
    id: str = Field(primary_key=True)
    status: str
    last_check: float
    last_error: str = ""
    response_ms: float | None = None
    result_json: str = "{}"
