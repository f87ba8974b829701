"""The schema of alerts.sqlite as SQLModel classes: the source of ``store_tables.py``.

``python -m services.core.tablegen`` generates ``store_tables.py`` from this module; the
alerts service uses those core tables (store.py, outbox.py) and never imports SQLModel.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class AlertRow(SQLModel, table=True):
    """The live state of one fingerprint (pending, firing or acknowledged)."""

    __tablename__ = "alerts_current"
    fingerprint: str = Field(primary_key=True)
    rule: str = Field(index=True)
    severity: str
    state: str
    data: str  # the Alert as JSON
    updated_at: float


class TransitionRow(SQLModel, table=True):
    """One change of state, with who and when: the alert history."""

    __tablename__ = "alerts_transition"
    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)
    fingerprint: str = Field(index=True)
    rule: str = Field(index=True)
    severity: str = Field(index=True)
    from_state: str
    to_state: str = Field(index=True)
    value: float | None = None
    labels: str = "{}"
    summary: str = ""
    by: str = ""
    note: str = ""


class NotifiedRow(SQLModel, table=True):
    """When each fingerprint was last notified (dedupe survives restarts)."""

    __tablename__ = "alerts_notified"
    fingerprint: str = Field(primary_key=True)
    last_notified_at: float


class SilenceRow(SQLModel, table=True):
    """A silence: matchers, time span, who and why."""

    __tablename__ = "alerts_silence"
    id: str = Field(primary_key=True)
    matchers: str
    starts_at: float
    ends_at: float
    created_by: str = ""
    reason: str = ""
    created_at: float = 0.0


class DeliveryRow(SQLModel, table=True):
    """One delivery attempt to one receiver endpoint."""

    __tablename__ = "alerts_delivery"
    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)
    receiver: str = Field(index=True)
    channel: str
    endpoint: str
    kind: str
    attempt: int
    status: str  # ok | retry | failed
    http_status: int | None = None
    error: str = ""
    duration_ms: float = 0.0
    fingerprints: str = "[]"


# The outbox (services/alerts/outbox.py): written in the same transaction as the above.


class NoticeOutboxRow(SQLModel, table=True):
    """One notification for one receiver, written with the transition that caused it."""

    __tablename__ = "alerts_outbox"
    delivery_id: str = Field(primary_key=True)
    receiver: str = Field(index=True)
    kind: str
    group_key: str = ""
    alerts: str = "[]"  # the alert snapshots as JSON
    created_at: float = Field(index=True)
    status: str = Field(default="pending", index=True)  # pending | ok | failed
    done_at: float | None = None


class EventOutboxRow(SQLModel, table=True):
    """One AlertEvent waiting to be published on ``vigil.alert.>`` (deleted once stored)."""

    __tablename__ = "alerts_event_outbox"
    msg_id: str = Field(primary_key=True)
    subject: str
    payload: bytes
    created_at: float


class SeriesMarkRow(SQLModel, table=True):
    """The newest sample time evaluated per watched series: a redelivered older sample
    after a crash is recognised and not evaluated (and transitions) a second time."""

    __tablename__ = "alerts_series_mark"
    series: str = Field(primary_key=True)  # JSON [name, [[label, value], ...]]
    ts: float
