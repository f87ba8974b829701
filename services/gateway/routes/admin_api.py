"""Admin REST API under /api/v1: users, API keys and the audit log (admins only)."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter

from services.gateway.audit import AuditLog, AuditQuery, audit
from services.gateway.auth.store import AuthError, AuthStore, KeyInfo, UserInfo
from services.gateway.security import current_user, requires_role
from services.gateway.state import gateway_state

ADMIN = [requires_role("admin")]
MAX_PAGE = 500
EXPORT_ROWS = 100_000
MAX_OFFSET = 1_000_000_000
MAX_TS = 1e11  # Unix seconds, year 5138: beyond is a typo, not a time
Since = Annotated[float | None, Parameter(ge=0, le=MAX_TS, description="Unix seconds, from")]
Until = Annotated[float | None, Parameter(ge=0, le=MAX_TS, description="Unix seconds, before")]


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    password: str
    role: Literal["viewer", "operator", "admin"]


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["viewer", "operator", "admin"] | None = None
    password: str | None = None


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: Literal["viewer", "operator", "admin"]


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def store_of(request: Request[Any, Any, Any]) -> AuthStore:
    store = gateway_state(request).auth
    if store is None:
        raise HTTPException(status_code=503, detail="user database not available")
    return store


def audit_of(request: Request[Any, Any, Any]) -> AuditLog:
    log = gateway_state(request).audit_log
    if log is None:
        raise HTTPException(status_code=503, detail="audit log not available")
    return log


def user_json(u: UserInfo) -> dict[str, Any]:
    return {
        "name": u.name,
        "role": u.role,
        "created_at": u.created_at,
        "must_change": u.must_change,
    }


def key_json(k: KeyInfo) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "created_by": k.created_by,
        "created_at": k.created_at,
        "revoked": k.revoked_at is not None,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }


def _bad(exc: AuthError) -> HTTPException:
    text = str(exc)
    status = (
        404 if text.startswith("no ") else 409 if "exists" in text or "last admin" in text else 400
    )
    return HTTPException(status_code=status, detail=text)


@get("/api/v1/users", guards=ADMIN, tags=["admin"], sync_to_thread=False)
def list_users(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """Every user and role."""
    return [user_json(u) for u in sorted(store_of(request).users.values(), key=lambda u: u.name)]


@post("/api/v1/users", guards=ADMIN, tags=["admin"], status_code=201)
async def create_user(request: Request[Any, Any, Any], data: NewUser) -> dict[str, Any]:
    """Create a user (password at least 10 characters)."""
    try:
        info = await store_of(request).create_user(data.name, data.password, data.role)
    except AuthError as exc:
        await audit(request, "user.create", data.name, ok=False, detail=str(exc))
        raise _bad(exc) from None
    await audit(request, "user.create", data.name, detail=f"role={data.role}")
    return user_json(info)


@patch("/api/v1/users/{name:str}", guards=ADMIN, tags=["admin"])
async def change_user(
    request: Request[Any, Any, Any], name: str, data: UserChange
) -> dict[str, Any]:
    """Change a user's role and/or password."""
    store = store_of(request)
    if name not in store.users:
        # An empty change of an unknown user reached store.users[name] below: a 500.
        raise HTTPException(status_code=404, detail=f"unknown user {name!r}")
    try:
        if data.role is not None:
            await store.set_role(name, data.role)
        if data.password is not None:
            await store.set_password(name, data.password)
    except AuthError as exc:
        await audit(request, "user.change", name, ok=False, detail=str(exc))
        raise _bad(exc) from None
    changed = [k for k in ("role", "password") if getattr(data, k) is not None]
    await audit(request, "user.change", name, detail="changed " + ",".join(changed))
    return user_json(store.users[name])


@delete("/api/v1/users/{name:str}", guards=ADMIN, tags=["admin"], status_code=204)
async def delete_user(request: Request[Any, Any, Any], name: str) -> None:
    """Delete a user and end their sessions (the last admin stays)."""
    try:
        await store_of(request).delete_user(name)
    except AuthError as exc:
        await audit(request, "user.delete", name, ok=False, detail=str(exc))
        raise _bad(exc) from None
    await audit(request, "user.delete", name)


@get("/api/v1/keys", guards=ADMIN, tags=["admin"], sync_to_thread=False)
def list_keys(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """Every API key (never the secret)."""
    keys = sorted(store_of(request).keys.values(), key=lambda k: k.created_at, reverse=True)
    return [key_json(k) for k in keys]


@post("/api/v1/keys", guards=ADMIN, tags=["admin"], status_code=201)
async def create_key(request: Request[Any, Any, Any], data: NewKey) -> dict[str, Any]:
    """Create a key scoped to a role; ``key`` in the answer is shown this once only."""
    user = current_user(request)
    assert user is not None  # the guard let only admins in
    try:
        info, secret = await store_of(request).create_key(data.name, data.role, user.name)
    except AuthError as exc:
        raise _bad(exc) from None
    await audit(request, "key.create", info.id, detail=f"name={info.name} role={info.role}")
    return {**key_json(info), "key": secret}


@delete("/api/v1/keys/{key_id:str}", guards=ADMIN, tags=["admin"], status_code=204)
async def revoke_key(request: Request[Any, Any, Any], key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    try:
        await store_of(request).revoke_key(key_id)
    except AuthError as exc:
        raise _bad(exc) from None
    await audit(request, "key.revoke", key_id)


def audit_query(
    actor: str | None,
    action: str | None,
    ok: bool | None,
    since: float | None,
    until: float | None,
    limit: int,
    offset: int,
) -> AuditQuery:
    return AuditQuery(
        actor=actor or "",
        action=action or "",
        ok=ok,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


@get("/api/v1/audit", guards=ADMIN, tags=["admin"])
async def list_audit(
    request: Request[Any, Any, Any],
    actor: str | None = None,
    action: str | None = None,
    ok: bool | None = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET)] = 0,
) -> Page:
    """The audit log, newest first; filter by actor, action prefix, result and time."""
    q = audit_query(actor, action, ok, since, until, limit, offset)
    items, total = await audit_of(request).query(q)
    return Page(items=items, total=total, limit=limit, offset=offset)


@get("/api/v1/audit/export", guards=ADMIN, tags=["admin"])
async def export_audit(
    request: Request[Any, Any, Any],
    format: Literal["csv", "json"] = "csv",
    actor: str | None = None,
    action: str | None = None,
    since: Since = None,
    until: Until = None,
) -> Response[bytes]:
    """Download the (filtered) audit log as CSV or JSON."""
    q = audit_query(actor, action, None, since, until, EXPORT_ROWS, 0)
    items, _total = await audit_of(request).query(q)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if format == "json":
        body = msgspec.json.encode(items)
        media = "application/json"
    else:
        buf = io.StringIO()
        fields = ["id", "ts", "actor", "action", "target", "ok", "remote", "detail"]
        writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in items:
            # A leading = + - @ would run as a formula in a spreadsheet.
            writer.writerow({k: _cell(v) for k, v in row.items()})
        body = buf.getvalue().encode("utf-8-sig")
        media = "text/csv; charset=utf-8"
    await audit(request, "audit.export", format, detail=f"{len(items)} rows")
    return Response(
        body,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="vigil-audit-{stamp}.{format}"'},
    )


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


ADMIN_API_ROUTES = [
    list_users,
    create_user,
    change_user,
    delete_user,
    list_keys,
    create_key,
    revoke_key,
    list_audit,
    export_audit,
]
