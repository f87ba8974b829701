"""The history database schema as SQLModel classes: the source of ``tables.py``.

``python -m services.core.tablegen`` generates ``tables.py`` from this module; the
analyzer uses those core tables (via ``schema.py``) and never imports SQLModel.
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary
from sqlmodel import Field, SQLModel


class HistSeries(SQLModel, table=True):
    __tablename__ = "hist_series"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    host: str = Field(index=True)
    grp: str = ""
    name: str = Field(index=True)
    labels: str = "{}"
    first_ts: float = 0.0
    last_ts: float = 0.0
    last_value: float = 0.0


class HistRaw(SQLModel, table=True):
    __tablename__ = "hist_raw"
    __table_args__ = (Index("ix_hist_raw_end", "end_ms"),)

    series_id: int = Field(primary_key=True)
    start_ms: int = Field(primary_key=True)
    end_ms: int
    n: int
    data: bytes = Field(sa_type=LargeBinary)


class _Rollup(SQLModel):
    series_id: int = Field(primary_key=True)
    ts: int = Field(primary_key=True)
    # count, sum, min, max, last, p50, p95, p99 as 8 little-endian float64 (accum.STATS):
    # one value per row instead of eight makes long chart reads several times cheaper.
    stats: bytes = Field(sa_type=LargeBinary)


class _Sketch(SQLModel):
    series_id: int = Field(primary_key=True)
    ts: int = Field(primary_key=True)
    sketch: bytes = Field(sa_type=LargeBinary)


class Hist1m(_Rollup, table=True):
    __tablename__ = "hist_1m"
    __table_args__ = {"sqlite_with_rowid": False}


class Hist1h(_Rollup, table=True):
    __tablename__ = "hist_1h"
    __table_args__ = {"sqlite_with_rowid": False}


class Sketch1m(_Sketch, table=True):
    __tablename__ = "hist_1m_sketch"
    __table_args__ = {"sqlite_with_rowid": False}


class Sketch1h(_Sketch, table=True):
    __tablename__ = "hist_1h_sketch"
    __table_args__ = {"sqlite_with_rowid": False}


class HistPlugin(SQLModel, table=True):
    __tablename__ = "hist_plugin"

    plugin_id: str = Field(primary_key=True)
    name: str = ""
    description: str = ""
    registered_at: float = 0.0
    registered_by: str = ""
    last_push_at: float = 0.0
    samples: int = 0
