"""The gateway database schema (<data_dir>/gateway.sqlite): users, sessions, keys, audit."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    """A person who logs in; ``role`` is viewer, operator or admin."""

    __tablename__ = "users"
    name: str = Field(primary_key=True)
    password_hash: str
    role: str
    created_at: float
    must_change: bool = False
    disabled: bool = False


class LoginAttempt(SQLModel, table=True):
    """Consecutive failed logins per name (known or not), for the lockout."""

    __tablename__ = "login_attempts"
    name: str = Field(primary_key=True)
    failures: int = 0
    locked_until: float = 0.0


class SessionRow(SQLModel, table=True):
    """A browser session; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "sessions"
    token_hash: str = Field(primary_key=True)
    user_name: str = Field(index=True)
    created_at: float
    expires_at: float
    remote: str = ""


class ApiKey(SQLModel, table=True):
    """A key for programs, scoped to a role; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: str = Field(primary_key=True)
    key_hash: str = Field(index=True, unique=True)
    name: str
    role: str
    created_by: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None


class AuditRow(SQLModel, table=True):
    """Who did what, when, from where."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)
    actor: str = Field(index=True)
    action: str = Field(index=True)
    target: str = ""
    ok: bool = True
    remote: str = ""
    detail: str = ""


class Meta(SQLModel, table=True):
    """Key/value facts of this database (the CSRF signing secret)."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str
