"""What the auth store hands out: users, keys, sessions, login results, and its errors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from services.gateway.security import RANK, Role

NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10


class AuthError(Exception):
    """A request the store refuses; the message is shown to the person."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    created_at: float
    must_change: bool = False
    disabled: bool = False


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    role: Role
    created_by: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None


@dataclass(frozen=True)
class SessionInfo:
    user_name: str
    expires_at: float


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    token: str = ""
    reason: str = ""
    user: UserInfo | None = None


def check_role(role: str) -> Role:
    if role not in RANK:
        raise AuthError(f"role must be one of viewer, operator, admin (got {role!r})")
    return role  # type: ignore[return-value]
