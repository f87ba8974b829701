"""Roles and route guards. The auth middleware puts the caller in ``scope["vigil_user"]``.

Viewer sees; operator also acts (start/stop, ack/silence); admin also configures.
Use ``guards=[requires_role("operator")]`` on a route handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

Role = Literal["viewer", "operator", "admin"]
RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}
USER_SCOPE_KEY = "vigil_user"


@dataclass(frozen=True)
class CurrentUser:
    """Who is calling: a logged-in user or an API key."""

    name: str
    role: Role
    via: Literal["session", "api_key"] = "session"


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
    user = connection.scope.get(USER_SCOPE_KEY)  # type: ignore[misc]
    return user if isinstance(user, CurrentUser) else None


def requires_role(role: Role) -> Guard:
    """A guard admitting callers whose role is ``role`` or above."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None:
            raise NotAuthorizedException("log in or send an API key")
        if RANK[user.role] < RANK[role]:
            raise PermissionDeniedException(f"needs the {role} role")

    return guard
