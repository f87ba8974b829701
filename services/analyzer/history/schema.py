"""Tables of <data_dir>/analyzer-history.sqlite (SQLModel schema; writes use SQLAlchemy core).

- ``hist_series``: one row per series (host + name + labels), with its latest value;
- ``hist_raw``: raw samples packed in chunks of up to 160 per series
  (``ts_ms`` uint32 offsets from ``start_ms``, then float64 values);
- ``hist_1m`` / ``hist_1h``: rollups per series and bucket: count, sum, min, max,
  last, P50/P95/P99 packed in ``stats``; ``hist_1m_sketch`` / ``hist_1h_sketch``
  beside them hold each bucket's quantile sketch, read only when buckets merge
  (kept apart so that long chart queries read small rows);
- ``hist_plugin``: plugins registered to push metrics.
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary, Table
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


def _table(model: type[SQLModel]) -> Table:
    table: Table = getattr(model, "__table__")  # noqa: B009 - set by SQLModel at class creation
    return table


SERIES_T = _table(HistSeries)
RAW_T = _table(HistRaw)
M1_T = _table(Hist1m)
H1_T = _table(Hist1h)
M1S_T = _table(Sketch1m)
H1S_T = _table(Sketch1h)
PLUGIN_T = _table(HistPlugin)
SKETCHES = {M1_T.name: M1S_T, H1_T.name: H1S_T}
HISTORY_TABLES = [SERIES_T, RAW_T, M1_T, H1_T, M1S_T, H1S_T, PLUGIN_T]
