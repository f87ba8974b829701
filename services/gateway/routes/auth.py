"""Log in and out (form and JSON), who am I, change my password, switch language or theme."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.params import Body
from litestar.response import Redirect, Template

from services.gateway.audit import remote_of
from services.gateway.auth.middleware import SESSION_COOKIE
from services.gateway.auth.store import AuthError, AuthStore, LoginResult
from services.gateway.i18n import LANGS
from services.gateway.routes.pages import page_context
from services.gateway.security import current_user, requires_role
from services.gateway.state import GatewayState, gateway_state

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class LoginForm:
    name: str = ""
    password: str = ""
    next: str = "/"
    csrf_token: str = ""


@dataclass
class LoginJson:
    name: str
    password: str


@dataclass
class PasswordForm:
    current: str = ""
    password: str = ""
    repeat: str = ""
    csrf_token: str = ""


def safe_next(target: str) -> str:
    """Only local paths: an open redirect after login would be a phishing aid."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    # Browsers drop tabs and newlines from URLs: "/\t/evil.example" would become "//evil…".
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    return target


def _store(state: GatewayState) -> AuthStore:
    if state.auth is None:
        raise HTTPException(status_code=503, detail="user database not available")
    return state.auth


def session_cookie(request: Request[Any, Any, Any], token: str, max_age: int | None) -> Cookie:
    state = gateway_state(request)
    secure = state.settings.gateway.secure_cookies or request.url.scheme == "https"
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=max_age,
        path="/",
    )


async def _login(request: Request[Any, Any, Any], name: str, password: str) -> LoginResult:
    state = gateway_state(request)
    result = await _store(state).login(name, password, remote_of(request))
    if state.audit_log is not None:
        await state.audit_log.record(
            name[:64] or "(empty)",
            "login",
            target="session",
            ok=result.ok,
            remote=remote_of(request),
            detail="" if result.ok else result.reason,
        )
    return result


def _login_page(
    request: Request[Any, Any, Any], error: str = "", next_: str = "/", status: int = 200
) -> Template:
    ctx = page_context(request, "login", error=error, next=safe_next(next_))
    return Template(template_name="pages/login.html", context=ctx, status_code=status)


@get("/login", opt={"public": True}, include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: str = "/") -> Template:
    """The login form."""
    return _login_page(request, next_=next)


@post("/login", opt={"public": True}, include_in_schema=False)
async def login_form(
    request: Request[Any, Any, Any], data: Annotated[LoginForm, FORM]
) -> Template | Redirect:
    """Check the form; on success set the session cookie and go where the user was going."""
    result = await _login(request, data.name, data.password)
    if not result.ok:
        key = "login.locked" if result.reason == "locked" else "login.failed"
        return _login_page(request, key, data.next, 401)
    state = gateway_state(request)
    max_age = int(state.settings.gateway.session_hours * 3600)
    target = "/account/password" if result.user and result.user.must_change else data.next
    return Redirect(
        path=safe_next(target),
        status_code=303,
        cookies=[session_cookie(request, result.token, max_age)],
    )


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    """End this session."""
    state = gateway_state(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and state.auth:
        await state.auth.end_session(token)
    return Redirect(path="/login", status_code=303, cookies=[session_cookie(request, "", 0)])


@post("/api/v1/auth/login", opt={"public": True}, status_code=200, tags=["auth"])
async def api_login(request: Request[Any, Any, Any], data: LoginJson) -> Response[dict[str, Any]]:
    """Log in with a name and password; sets the session cookie (programs use API keys)."""
    result = await _login(request, data.name, data.password)
    if not result.ok:
        detail = (
            "too many failed logins; try later"
            if result.reason == "locked"
            else "bad name or password"
        )
        raise NotAuthorizedException(detail)
    assert result.user is not None
    state = gateway_state(request)
    max_age = int(state.settings.gateway.session_hours * 3600)
    return Response(
        {
            "name": result.user.name,
            "role": result.user.role,
            "must_change": result.user.must_change,
        },
        cookies=[session_cookie(request, result.token, max_age)],
    )


@get("/api/v1/auth/me", guards=[requires_role("viewer")], sync_to_thread=False, tags=["auth"])
def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Who is calling: name, role, and whether by session or API key."""
    user = current_user(request)
    assert user is not None
    return {"name": user.name, "role": user.role, "via": user.via}


@get("/account/password", guards=[requires_role("viewer")], include_in_schema=False)
async def password_page(request: Request[Any, Any, Any]) -> Template:
    """Change my own password."""
    ctx = page_context(request, "settings", error="", done=False)
    return Template(template_name="pages/password.html", context=ctx)


@post("/account/password", guards=[requires_role("viewer")], include_in_schema=False)
async def password_change(
    request: Request[Any, Any, Any], data: Annotated[PasswordForm, FORM]
) -> Template:
    """Check the current password, then store the new one."""
    state = gateway_state(request)
    store = _store(state)
    user = current_user(request)
    error = ""
    if user is None or user.via != "session":
        error = "API keys have no password"
    elif data.password != data.repeat:
        error = "the two new passwords differ"
    else:
        try:
            if not await store.check_password(user.name, data.current):
                error = "current password is wrong"
            else:
                await store.set_password(user.name, data.password)
        except AuthError as exc:
            error = str(exc)
    if state.audit_log is not None and user is not None:
        await state.audit_log.record(
            user.name, "password.change", target=user.name, ok=not error, remote=remote_of(request)
        )
    ctx = page_context(request, "settings", error=error, done=not error)
    return Template(
        template_name="pages/password.html", context=ctx, status_code=400 if error else 200
    )


@get("/ui/lang/{code:str}", opt={"public": True}, include_in_schema=False)
async def switch_language(request: Request[Any, Any, Any], code: str, next: str = "/") -> Redirect:
    """Remember the chosen language in a cookie and go back."""
    if code not in LANGS:
        raise HTTPException(status_code=400, detail=f"language must be one of {', '.join(LANGS)}")
    cookie = Cookie(key="lang", value=code, max_age=365 * 86400, samesite="lax", path="/")
    return Redirect(path=safe_next(next), status_code=303, cookies=[cookie])


@get("/ui/theme/{mode:str}", opt={"public": True}, include_in_schema=False)
async def switch_theme(request: Request[Any, Any, Any], mode: str, next: str = "/") -> Redirect:
    """Light, dark, or follow the system (``auto``)."""
    if mode not in {"light", "dark", "auto"}:
        raise HTTPException(status_code=400, detail="theme must be light, dark or auto")
    cookie = Cookie(key="theme", value=mode, max_age=365 * 86400, samesite="lax", path="/")
    return Redirect(path=safe_next(next), status_code=303, cookies=[cookie])


AUTH_ROUTES = [
    login_page,
    login_form,
    logout,
    api_login,
    me,
    password_page,
    password_change,
    switch_language,
    switch_theme,
]
