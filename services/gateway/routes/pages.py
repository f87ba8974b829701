"""HTML pages and HTMX fragments."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from services.core.bus import RpcError
from services.gateway.auth.middleware import CSRF_SCOPE_KEY
from services.gateway.i18n import pick_language, translator
from services.gateway.security import RANK, current_user
from services.gateway.state import gateway_state

PROCESSES = ("packing", "transfer", "inspection")


def page_context(request: Request[Any, Any, Any], active: str, **extra: Any) -> dict[str, Any]:
    """The context every page template gets: language, translator, active nav item.

    Also ``user`` (CurrentUser or None), ``csrf`` (the token forms put in a hidden
    ``csrf_token`` field; base.html sends it on every HTMX request) and ``can(role)``.
    """
    lang = pick_language(request)
    user = current_user(request)

    def can(role: str) -> bool:
        return user is not None and RANK[user.role] >= RANK.get(role, 99)

    return {
        "lang": lang,
        "t": translator(lang),
        "active": active,
        "user": user,
        "csrf": request.scope.get(CSRF_SCOPE_KEY, ""),  # type: ignore[call-overload]
        "can": can,
        **extra,
    }


async def _production(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = gateway_state(request)
    try:
        return dict(await state.ask("analyzer", "work_today", {}, timeout=2.0))
    except (RpcError, TimeoutError, RuntimeError, OSError) as exc:
        return {"error": str(exc) or type(exc).__name__}
    except Exception as exc:  # NATS "no responders" and friends: show, don't crash
        return {"error": type(exc).__name__}


@get("/")
async def overview(request: Request[Any, Any, Any], host: str | None = None) -> Template:
    """The Overview page; gauges, alerts, programs and targets load as fragments."""
    production = await _production(request)
    ctx = page_context(
        request, "overview", production=production, processes=PROCESSES, host=host or ""
    )
    return Template(template_name="pages/overview.html", context=ctx)


@get("/ui/fragments/production")
async def production_fragment(request: Request[Any, Any, Any]) -> Template:
    """Today's production tiles, re-fetched by the page on each KPI event."""
    production = await _production(request)
    ctx = page_context(request, "overview", production=production, processes=PROCESSES)
    return Template(template_name="fragments/production.html", context=ctx)


PAGE_ROUTES = [overview, production_fragment]
