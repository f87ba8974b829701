"""GENERATED from services.gateway.auth.models by `python -m services.core.tablegen`: do not edit.

The same tables as the SQLModel classes there, as SQLAlchemy core (no SQLModel import).
"""

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("name", String(), primary_key=True, nullable=False),
    Column("password_hash", String(), nullable=False),
    Column("role", String(), nullable=False),
    Column("created_at", Float(), nullable=False),
    Column("must_change", Boolean(), nullable=False, default=False),
    Column("disabled", Boolean(), nullable=False, default=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("name", String(), primary_key=True, nullable=False),
    Column("failures", Integer(), nullable=False, default=0),
    Column("locked_until", Float(), nullable=False, default=0.0),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(), primary_key=True, nullable=False),
    Column("user_name", String(), nullable=False, index=True),
    Column("created_at", Float(), nullable=False),
    Column("expires_at", Float(), nullable=False),
    Column("remote", String(), nullable=False, default=""),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(), primary_key=True, nullable=False),
    Column("key_hash", String(), nullable=False, unique=True, index=True),
    Column("name", String(), nullable=False),
    Column("role", String(), nullable=False),
    Column("created_by", String(), nullable=False),
    Column("created_at", Float(), nullable=False),
    Column("revoked_at", Float(), nullable=True),
    Column("last_used_at", Float(), nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    Column("ts", Float(), nullable=False, index=True),
    Column("actor", String(), nullable=False, index=True),
    Column("action", String(), nullable=False, index=True),
    Column("target", String(), nullable=False, default=""),
    Column("ok", Boolean(), nullable=False, default=True),
    Column("remote", String(), nullable=False, default=""),
    Column("detail", String(), nullable=False, default=""),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(), primary_key=True, nullable=False),
    Column("value", String(), nullable=False),
)
