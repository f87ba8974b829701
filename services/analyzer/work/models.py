"""The analyzer-work.sqlite schema as SQLModel classes: the source of ``tables.py``.

``python -m services.core.tablegen`` generates ``tables.py`` from this module; the
analyzer uses those core tables and never imports SQLModel.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class WorkBase(SQLModel, registry=registry()):
    """Own metadata, so other analyzer tables never land in this file."""


class WorkSession(WorkBase, table=True):
    """One tray (a TRAY_COMPLETE row)."""

    __tablename__ = "work_session"
    __table_args__ = (
        Index("ix_session_process_date", "process", "date"),
        Index("ix_session_worker", "process", "worker", "date"),
        Index("ix_session_ship", "process", "shipping_date"),
        Index("ix_session_order", "work_order"),
        Index("ix_session_item", "item_code"),
    )
    id: int = Field(primary_key=True)
    process: str
    worker: str
    raw_worker: str = ""
    file_id: str
    path: str = ""
    line: int
    start: str
    start_ts: float
    end: str
    end_ts: float
    date: str
    hour: int
    work_time: float = 0.0
    idle_time: float = 0.0
    process_errors: int = 0
    defective: int = 0
    had_error: int = 0
    is_partial: int = 0
    is_restored: int = 0
    is_test: int = 0
    eligible: int = 1
    clean: int = 0
    item_code: str = ""
    item_name: str = ""
    work_order: str = ""
    phase: str = ""
    supplier: str = ""
    batch: str = ""
    item_group: str = ""
    shipping_date: str = ""
    pcs: int = 0
    latency: float = 0.0


class WorkDaily(WorkBase, table=True):
    """Sums per (process, worker, session date): KPIs over any date range come from here."""

    __tablename__ = "work_daily"
    # Clustered on (process, worker, date): a year for 30 workers is one short range scan.
    __table_args__ = {"sqlite_with_rowid": False}
    process: str = Field(primary_key=True)
    worker: str = Field(primary_key=True)
    date: str = Field(primary_key=True)
    n: int = 0
    pcs: int = 0
    wt_sum: float = 0.0
    wt_sq: float = 0.0
    idle_sum: float = 0.0
    errors: int = 0
    had_err: int = 0
    elig_n: int = 0
    elig_err: int = 0
    lat_n: int = 0
    lat_sum: float = 0.0
    defective: int = 0
    insp_n: int = 0


class WorkItemDaily(WorkBase, table=True):
    """Trays and pieces per (process, date, item, worker)."""

    __tablename__ = "work_item_daily"
    process: str = Field(primary_key=True)
    date: str = Field(primary_key=True)
    item_code: str = Field(primary_key=True)
    worker: str = Field(primary_key=True)
    item_name: str = ""
    # start of the session the name came from: the first non-empty name in session order wins
    name_ts: float = 1e18
    n: int = 0
    pcs: int = 0


class WorkHourly(WorkBase, table=True):
    """Trays and pieces per (process, date, hour of completion, worker)."""

    __tablename__ = "work_hourly"
    process: str = Field(primary_key=True)
    date: str = Field(primary_key=True)
    hour: int = Field(primary_key=True)
    worker: str = Field(primary_key=True)
    n: int = 0
    pcs: int = 0


class WorkEventDaily(WorkBase, table=True):
    """Work events (any kind) per (process, event date)."""

    __tablename__ = "work_event_daily"
    process: str = Field(primary_key=True)
    date: str = Field(primary_key=True)
    events: int = 0


class WorkScan(WorkBase, table=True):
    """A SCAN_OK row, kept for barcode trace."""

    __tablename__ = "work_scan"
    __table_args__ = (Index("ix_scan_barcode", "barcode"),)
    id: int | None = Field(default=None, primary_key=True)
    process: str
    worker: str
    ts_s: float
    barcode: str = ""
    interval_sec: float = 0.0


class WorkError(WorkBase, table=True):
    """An error-log entry (event name with ERROR, FAIL or CANCEL)."""

    __tablename__ = "work_error"
    __table_args__ = (Index("ix_error_date", "process", "date"), Index("ix_error_all", "date"))
    id: int | None = Field(default=None, primary_key=True)
    process: str
    worker: str
    ts: str
    date: str
    event: str
    details: str = ""
    path: str = ""
    file_id: str
    line: int


class WorkProblem(WorkBase, table=True):
    """Input the spec cannot use (bad timestamp, no start_time, bad number, unknown process)."""

    __tablename__ = "work_problem"
    __table_args__ = (Index("ix_problem_process", "process", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    process: str
    worker: str = ""
    kind: str
    reason: str
    path: str = ""
    file_id: str = ""
    line: int = 0
    ts: str = ""


class WorkFileLines(WorkBase, table=True):
    """Line intervals of each file already applied: redelivered rows are never counted twice."""

    __tablename__ = "work_file_lines"
    file_id: str = Field(primary_key=True)
    lo: int = Field(primary_key=True)
    hi: int
