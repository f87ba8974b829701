"""Errors as RFC 9457 ``application/problem+json`` for the API, short pages for browsers."""

from __future__ import annotations

import html
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from services.core.logs import get_logger

log = get_logger("gateway")
PROBLEM = "application/problem+json"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, detail: str, *, instance: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_bytes(status: int, detail: str, *, instance: str = "", **extra: Any) -> bytes:
    return msgspec.json.encode(problem(status, detail, instance=instance, **extra))


def _is_browser(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "") or "hx-request" in request.headers


def _page(status: int, detail: str) -> Response[str]:
    text = html.escape(detail)
    body = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{status}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/vigil.css"></head><body><main>'
        f'<section class="card"><h2>{status} {html.escape(_title(status))}</h2>'
        f'<p data-testid="error-detail">{text}</p><p><a href="/">Vigil</a></p>'
        "</section></main></body></html>"
    )
    return Response(body, status_code=status, media_type=MediaType.HTML)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    detail = exc.detail or _title(status)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        # Names the field and the reason, e.g. [{"key": "limit", "message": "..."}].
        extra["errors"] = exc.extra
    headers = dict(exc.headers or {})
    if _is_browser(request):
        response = _page(status, detail)
        response.headers.update(headers)
        return response
    return Response(
        problem(status, detail, instance=request.url.path, **extra),
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The trace goes to the log, never to the caller.
    log.exception("request failed", path=request.url.path, error=repr(exc)[:300])
    detail = "internal error; see the gateway log"
    if _is_browser(request):
        return _page(500, detail)
    return Response(
        problem(500, detail, instance=request.url.path), status_code=500, media_type=PROBLEM
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
