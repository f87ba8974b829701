"""The auth middleware: who is calling, default-deny, rate limits and CSRF, in one pass.

It sets ``scope["vigil_user"]`` to a CurrentUser from the session cookie or from an
``Authorization: Bearer <key>`` / ``X-API-Key`` header. Every route needs at least a
viewer unless its handler says ``opt={"public": True}`` (or ``{"public_if":
"open_health"}``, naming a gateway setting). Unsafe requests from a browser session
must carry the CSRF token: header ``X-CSRF-Token`` (HTMX sends it, see base.html) or
form field ``csrf_token``. Form posts without a session (the login form) are checked
against a pre-login cookie.
"""

from __future__ import annotations

import secrets
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.core.config.gateway import GatewaySettings
from services.gateway.auth.problem import problem_bytes
from services.gateway.auth.ratelimit import RateLimiter, category_of
from services.gateway.security import USER_SCOPE_KEY, CurrentUser

SESSION_COOKIE = "vigil_session"
PRE_COOKIE = "vigil_pre"
CSRF_SCOPE_KEY = "vigil_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
MAX_FORM_BYTES = 2_000_000
# The OpenAPI document and its docs UI describe the API, they expose no data.
PUBLIC_PREFIXES = ("/api/v1/schema",)
MUST_CHANGE_OK = {"/account/password", "/logout"}


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    raw = headers.get(b"cookie", b"").decode("latin-1")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


def wants_html(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        return False
    return b"text/html" in headers.get(b"accept", b"") or b"hx-request" in headers


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


class AuthMiddleware:
    """Pure ASGI: authenticate, enforce default-deny, rate-limit and check CSRF."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state
        self.settings: GatewaySettings = state.settings.gateway
        self.limiter: RateLimiter = state.limiter
        self._reported: dict[tuple[str, str], float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        store = self.state.auth
        headers = _headers(scope)
        cookies = _cookies(headers)
        handler = scope.get("route_handler")
        opt: dict[str, Any] = getattr(handler, "opt", None) or {}
        method = str(scope.get("method", "GET"))
        path = str(scope.get("path", ""))
        secure = self.settings.secure_cookies or scope.get("scheme") == "https"

        user: CurrentUser | None = None
        key = _api_key(headers)
        session_token = cookies.get(SESSION_COOKIE, "")
        if key:
            user = store.key_user(key) if store else None
            if user is None:
                await self._deny(scope, send, headers, 401, "invalid or revoked API key")
                return
        elif session_token and store:
            user = store.session_user(session_token)
        scope[USER_SCOPE_KEY] = user  # type: ignore[literal-required]

        public = (
            path.startswith(PUBLIC_PREFIXES)
            or opt.get("public") is True
            or bool(opt.get("public_if") and getattr(self.settings, str(opt["public_if"]), False))
        )
        if user is None and not public:
            await self._deny(scope, send, headers, 401, "log in or send an API key")
            return

        if (
            user is not None
            and user.via == "session"
            and method == "GET"
            and path not in MUST_CHANGE_OK
            and not public
            and wants_html(scope, headers)
            and store.users.get(user.name) is not None
            and store.users[user.name].must_change
        ):
            # A one-time password is for one thing only: choosing a real one.
            await _respond(send, 303, b"", [(b"location", b"/account/password")])
            return

        category = category_of(method, path, opt.get("rate_limit"))
        if category is not None:
            caller = user.name if user else _remote(scope)
            wait = self.limiter.hit(category, caller)
            if wait is not None:
                await self._report_limited(category, caller, scope)
                extra = [(b"retry-after", str(int(wait) + 1).encode())]
                await self._deny(
                    scope, send, headers, 429, f"rate limit for {category} reached", extra
                )
                return

        set_cookies: list[bytes] = []
        pre = cookies.get(PRE_COOKIE, "")
        if user is not None and user.via == "session":
            binding = session_token
        else:
            if not pre and not key:
                # Only browsers post forms without a session (the login form); programs
                # with an API key never need the pre-login cookie.
                pre = secrets.token_urlsafe(24)
                set_cookies.append(cookie_header(PRE_COOKIE, pre, secure=secure))
            binding = "pre:" + pre
        if store is not None:
            scope[CSRF_SCOPE_KEY] = store.csrf_token(binding)  # type: ignore[literal-required]

        if method in _UNSAFE and opt.get("csrf", True) and store is not None:
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            needs = (user is not None and user.via == "session") or content_type.startswith(
                _FORM_TYPES
            )
            if needs:
                presented = headers.get(CSRF_HEADER, b"").decode("latin-1")
                if not presented and content_type.startswith(_FORM_TYPES[0]):
                    body, receive = await _buffer(receive)
                    fields = parse_qs(body.decode("utf-8", "replace"))
                    presented = (fields.get(CSRF_FIELD) or [""])[0]
                if not store.csrf_ok(binding, presented):
                    await self._deny(scope, send, headers, 403, "missing or wrong CSRF token")
                    return

        if set_cookies:
            send = _with_cookies(send, set_cookies)
        await self.app(scope, receive, send)

    async def _report_limited(self, category: str, caller: str, scope: Scope) -> None:
        # One audit record per caller and category per minute, not one per refused request.
        now = time.monotonic()
        if now - self._reported.get((category, caller), -1e9) < 60:
            return
        self._reported[(category, caller)] = now
        audit_log = getattr(self.state, "audit_log", None)
        if audit_log is not None:
            try:
                await audit_log.record(
                    caller,
                    "rate_limited",
                    target=category,
                    ok=False,
                    remote=_remote(scope),
                    detail=f"{scope.get('method')} {scope.get('path')}",
                )
            except Exception:  # the refusal stands even if the record fails
                pass

    async def _deny(
        self,
        scope: Scope,
        send: Send,
        headers: dict[bytes, bytes],
        status: int,
        detail: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        out = list(extra or [])
        if status == 401 and wants_html(scope, headers):
            target = "/login?next=" + quote(_path_qs(scope), safe="")
            if b"hx-request" in headers:
                out.append((b"hx-redirect", target.encode()))
                await _respond(send, 401, b"", [*out, (b"content-type", b"text/plain")])
            else:
                out.append((b"location", target.encode()))
                await _respond(send, 303, b"", [*out, (b"content-type", b"text/plain")])
            return
        body = problem_bytes(status, detail, instance=scope.get("path", ""))
        out.append((b"content-type", b"application/problem+json"))
        if status == 401:
            out.append((b"www-authenticate", b'Bearer realm="vigil"'))
        await _respond(send, status, body, out)


def _api_key(headers: dict[bytes, bytes]) -> str:
    direct = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    if direct:
        return direct
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


def _remote(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _path_qs(scope: Scope) -> str:
    qs = scope.get("query_string", b"").decode("latin-1")
    return scope.get("path", "/") + (f"?{qs}" if qs else "")


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole (form) body, and give the app a receive that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            break
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay  # type: ignore[return-value]


def _with_cookies(send: Send, cookies: list[bytes]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [(b"set-cookie", c) for c in cookies]
            message = {**message, "headers": headers}  # type: ignore[typeddict-item]
        await send(message)

    return wrapped
