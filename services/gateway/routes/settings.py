"""The Settings pages: my account, users, API keys, the audit log and backups."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from services.gateway.audit import AuditQuery, audit
from services.gateway.auth.store import AuthError
from services.gateway.routes.admin_api import audit_of, store_of
from services.gateway.routes.backups import list_archives
from services.gateway.routes.pages import page_context
from services.gateway.security import current_user, requires_role

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
ADMIN = [requires_role("admin")]
AUDIT_PAGE = 50


@dataclass
class UserForm:
    name: str = ""
    password: str = ""
    role: str = "viewer"
    csrf_token: str = ""


@dataclass
class RoleForm:
    role: str = ""
    csrf_token: str = ""


@dataclass
class PasswordForm:
    password: str = ""
    csrf_token: str = ""


@dataclass
class KeyForm:
    name: str = ""
    role: str = "viewer"
    csrf_token: str = ""


@dataclass
class EmptyForm:
    csrf_token: str = ""


def fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "—"


def render(
    request: Request[Any, Any, Any],
    *,
    error: str = "",
    notice: str = "",
    new_key: str = "",
    status: int = 200,
) -> Template:
    store = store_of(request)
    users = sorted(store.users.values(), key=lambda u: u.name)
    keys = sorted(store.keys.values(), key=lambda k: k.created_at, reverse=True)
    ctx = page_context(
        request,
        "settings",
        users=users,
        keys=keys,
        archives=list_archives(request),
        error=error,
        notice=notice,
        new_key=new_key,
        fmt_time=fmt_time,
        roles=("viewer", "operator", "admin"),
    )
    return Template(template_name="pages/settings.html", context=ctx, status_code=status)


@get("/settings", guards=[requires_role("viewer")], include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Template:
    """Settings: my account for everyone; users, keys, audit and backup for admins."""
    return render(request)


async def _apply(
    request: Request[Any, Any, Any], action: str, target: str, work: Any, notice: str
) -> Template | Redirect:
    try:
        await work
    except AuthError as exc:
        await audit(request, action, target, ok=False, detail=str(exc))
        return render(request, error=str(exc), status=400)
    await audit(request, action, target)
    return render(request, notice=notice)


@post("/settings/users", guards=ADMIN, include_in_schema=False)
async def user_create(
    request: Request[Any, Any, Any], data: Annotated[UserForm, FORM]
) -> Template | Redirect:
    store = store_of(request)
    work = store.create_user(data.name.strip(), data.password, data.role)
    return await _apply(request, "user.create", data.name, work, f"created {data.name}")


@post("/settings/users/{name:str}/role", guards=ADMIN, include_in_schema=False)
async def user_role(
    request: Request[Any, Any, Any], name: str, data: Annotated[RoleForm, FORM]
) -> Template | Redirect:
    work = store_of(request).set_role(name, data.role)
    return await _apply(request, "user.change", name, work, f"{name}: role {data.role}")


@post("/settings/users/{name:str}/password", guards=ADMIN, include_in_schema=False)
async def user_password(
    request: Request[Any, Any, Any], name: str, data: Annotated[PasswordForm, FORM]
) -> Template | Redirect:
    work = store_of(request).set_password(name, data.password, must_change=True)
    return await _apply(request, "user.password_reset", name, work, f"{name}: password set")


@post("/settings/users/{name:str}/delete", guards=ADMIN, include_in_schema=False)
async def user_delete(
    request: Request[Any, Any, Any], name: str, data: Annotated[EmptyForm, FORM]
) -> Template | Redirect:
    work = store_of(request).delete_user(name)
    return await _apply(request, "user.delete", name, work, f"deleted {name}")


@post("/settings/keys", guards=ADMIN, include_in_schema=False)
async def key_create(request: Request[Any, Any, Any], data: Annotated[KeyForm, FORM]) -> Template:
    user = current_user(request)
    assert user is not None  # the guard let only admins in
    try:
        info, secret = await store_of(request).create_key(data.name, data.role, user.name)
    except AuthError as exc:
        return render(request, error=str(exc), status=400)
    await audit(request, "key.create", info.id, detail=f"name={info.name} role={info.role}")
    return render(request, new_key=secret, notice=f"key {info.name} created")


@post("/settings/keys/{key_id:str}/revoke", guards=ADMIN, include_in_schema=False)
async def key_revoke(
    request: Request[Any, Any, Any], key_id: str, data: Annotated[EmptyForm, FORM]
) -> Template | Redirect:
    work = store_of(request).revoke_key(key_id)
    return await _apply(request, "key.revoke", key_id, work, f"key {key_id} revoked")


@get("/settings/audit", guards=ADMIN, include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    actor: str | None = None,
    action: str | None = None,
    offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
) -> Template:
    """The audit log, newest first, 50 a page, filtered by who and what."""
    q = AuditQuery(actor=actor or "", action=action or "", limit=AUDIT_PAGE, offset=offset)
    rows, total = await audit_of(request).query(q)
    ctx = page_context(
        request,
        "settings",
        rows=rows,
        total=total,
        offset=offset,
        page=AUDIT_PAGE,
        actor=actor or "",
        action=action or "",
        fmt_time=fmt_time,
    )
    return Template(template_name="pages/audit.html", context=ctx)


SETTINGS_ROUTES = [
    settings_page,
    user_create,
    user_role,
    user_password,
    user_delete,
    key_create,
    key_revoke,
    audit_page,
]
