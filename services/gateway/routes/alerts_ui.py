"""The Alerts page and its HTMX fragments: active list, badge, history, silences, rules editor,
deliveries. Actions post here and get the refreshed fragment back."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import Template

from services.gateway.audit import audit
from services.gateway.routes.alerts_common import (
    ADMIN,
    OPERATOR,
    VIEWER,
    ask_alerts,
    history_query,
    who,
)
from services.gateway.routes.pages import page_context
from services.gateway.security import RANK, current_user

SEVERITIES = ("critical", "error", "warning", "info")
STATES = ("pending", "firing", "acknowledged", "resolved", "flapping")


def fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "—"


def fmt_ago(ts: float | None) -> str:
    if not ts:
        return "—"
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def _safe(request: Request[Any, Any, Any], method: str, payload: Any = None) -> Any:
    """Fragments show the error in place instead of failing the whole page."""
    try:
        return await ask_alerts(request, method, payload)
    except HTTPException as exc:
        return {"error": exc.detail}


def _ctx(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    return page_context(
        request,
        "alerts",
        fmt_time=fmt_time,
        fmt_ago=fmt_ago,
        severities=SEVERITIES,
        states=STATES,
        **extra,
    )


def _fragment(request: Request[Any, Any, Any], name: str, **extra: Any) -> Template:
    return Template(template_name=f"fragments/{name}.html", context=_ctx(request, **extra))


async def _active(request: Request[Any, Any, Any], notice: str = "", error: str = "") -> Template:
    alerts = await _safe(request, "active")
    return _fragment(request, "alerts_active", alerts=alerts, notice=notice, error=error)


async def _const(value: Any) -> Any:
    return value


def _is_admin(request: Request[Any, Any, Any]) -> bool:
    user = current_user(request)
    return user is not None and RANK[user.role] >= RANK["admin"]


@get("/alerts", guards=VIEWER, include_in_schema=False)
async def alerts_page(request: Request[Any, Any, Any]) -> Template:
    """Active alerts, silences, history, rules (editor for admins), receivers and deliveries."""
    user = current_user(request)
    operator = user is not None and RANK[user.role] >= RANK["operator"]
    admin = _is_admin(request)
    alerts = await _safe(request, "active")
    if isinstance(alerts, dict) and alerts.get("error"):
        # The service is not answering: show that once instead of waiting on every section.
        down: Any = alerts
        parts: list[Any] = [down, down, down, down if admin else {}, down if admin else []]
        parts.append(down if operator else [])
    else:
        parts = list(
            await asyncio.gather(
                _safe(request, "silences"),
                _safe(request, "history", {"limit": 50}),
                _safe(request, "rules"),
                _safe(request, "rules_source") if admin else _const({}),
                _safe(request, "receivers") if admin else _const([]),
                _safe(request, "deliveries", {"limit": 50}) if operator else _const([]),
            )
        )
    silences, history, rules, source, receivers, deliveries = parts
    ctx = _ctx(
        request,
        alerts=alerts,
        silences=silences,
        history=history,
        rules=rules,
        source=source,
        receivers=receivers,
        deliveries=deliveries,
        filters={},
        notice="",
        error="",
    )
    return Template(template_name="pages/alerts.html", context=ctx)


@get("/ui/fragments/alerts", guards=VIEWER, include_in_schema=False)
async def active_fragment(request: Request[Any, Any, Any]) -> Template:
    """The active alerts list (the Overview page loads it too)."""
    return await _active(request)


@get("/ui/fragments/alerts/badge", guards=VIEWER, include_in_schema=False)
async def badge_fragment(request: Request[Any, Any, Any]) -> Template:
    """The count of firing alerts shown in the header on every page."""
    alerts = await _safe(request, "active")
    firing = [a for a in alerts if a.get("state") == "firing"] if isinstance(alerts, list) else []
    return _fragment(request, "alert_badge", firing=firing)


@get("/ui/fragments/alerts/history", guards=VIEWER, include_in_schema=False)
async def history_fragment(
    request: Request[Any, Any, Any],
    rule: str | None = None,
    severity: str | None = None,
    alert_state: Annotated[str | None, Parameter(query="state")] = None,
    days: float | None = None,
) -> Template:
    """History filtered by rule, severity, state and age."""
    since = time.time() - days * 86400 if days else None
    query = history_query(rule, severity, alert_state, None, since, None, 200)
    history = await _safe(request, "history", query)
    filters = {
        "rule": rule or "",
        "severity": severity or "",
        "state": alert_state or "",
        "days": days,
    }
    return _fragment(request, "alerts_history", history=history, filters=filters)


@get("/ui/fragments/alerts/deliveries", guards=OPERATOR, include_in_schema=False)
async def deliveries_fragment(request: Request[Any, Any, Any]) -> Template:
    deliveries = await _safe(request, "deliveries", {"limit": 50})
    return _fragment(request, "alerts_deliveries", deliveries=deliveries)


@post("/ui/alerts/{fingerprint:str}/ack", guards=OPERATOR, include_in_schema=False)
async def ui_ack(request: Request[Any, Any, Any], fingerprint: str) -> Template:
    try:
        await ask_alerts(request, "ack", {"fingerprint": fingerprint, "by": who(request)})
    except HTTPException as exc:
        return await _active(request, error=str(exc.detail))
    await audit(request, "alert.ack", fingerprint)
    return await _active(request, notice="acknowledged")


@post("/ui/alerts/{fingerprint:str}/resolve", guards=OPERATOR, include_in_schema=False)
async def ui_resolve(request: Request[Any, Any, Any], fingerprint: str) -> Template:
    try:
        await ask_alerts(request, "resolve", {"fingerprint": fingerprint, "by": who(request)})
    except HTTPException as exc:
        return await _active(request, error=str(exc.detail))
    await audit(request, "alert.resolve", fingerprint)
    return await _active(request, notice="resolved")


@post("/ui/alerts/{fingerprint:str}/silence", guards=OPERATOR, include_in_schema=False)
async def ui_silence_alert(request: Request[Any, Any, Any], fingerprint: str) -> Template:
    """Silence one alert for an hour: its rule and labels become the matchers."""
    alerts = await _safe(request, "active")
    found = (
        [a for a in alerts if a["fingerprint"] == fingerprint] if isinstance(alerts, list) else []
    )
    if not found:
        return await _active(request, error=f"no active alert {fingerprint}")
    matchers = {"rule": found[0]["rule"], **found[0]["labels"]}
    payload = {"matchers": matchers, "duration": "1h", "by": who(request), "reason": "from UI"}
    try:
        created = await ask_alerts(request, "silence", payload)
    except HTTPException as exc:
        return await _active(request, error=str(exc.detail))
    await audit(request, "alert.silence", created.get("id", ""), detail=str(matchers)[:300])
    return await _active(request, notice=f"silenced until {fmt_time(created.get('ends_at'))}")


def parse_matchers(text: str) -> dict[str, str]:
    """``host=web-1, rule=cpu-high, mount=~/data.*`` → matchers (``=~`` means regex)."""
    matchers: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=~" in part:
            key, value = part.split("=~", 1)
            matchers[key.strip()] = "~" + value.strip()
        elif "=" in part:
            key, value = part.split("=", 1)
            matchers[key.strip()] = value.strip().strip('"')
        else:
            raise ValueError(f"matcher {part!r}: expected label=value or label=~regex")
    return matchers


@post("/ui/alerts/silences", guards=OPERATOR, include_in_schema=False)
async def ui_silence(request: Request[Any, Any, Any]) -> Template:
    """Create a silence from the form (matchers text, duration, reason)."""
    form = await request.form()
    error = notice = ""
    try:
        matchers = parse_matchers(str(form.get("matchers", "")))
        payload = {
            "matchers": matchers,
            "duration": str(form.get("duration", "1h")) or "1h",
            "reason": str(form.get("reason", "")),
            "by": who(request),
        }
        created = await ask_alerts(request, "silence", payload)
        await audit(request, "alert.silence", created.get("id", ""), detail=str(matchers)[:300])
        notice = f"silence {created.get('id')} until {fmt_time(created.get('ends_at'))}"
    except (ValueError, HTTPException) as exc:
        error = str(getattr(exc, "detail", exc))
    silences = await _safe(request, "silences")
    return _fragment(request, "alerts_silences", silences=silences, notice=notice, error=error)


@post("/ui/alerts/silences/{silence_id:str}/end", guards=OPERATOR, include_in_schema=False)
async def ui_unsilence(request: Request[Any, Any, Any], silence_id: str) -> Template:
    error = ""
    try:
        await ask_alerts(request, "unsilence", {"id": silence_id, "by": who(request)})
        await audit(request, "alert.unsilence", silence_id)
    except HTTPException as exc:
        error = str(exc.detail)
    silences = await _safe(request, "silences")
    return _fragment(request, "alerts_silences", silences=silences, notice="", error=error)


@post("/ui/alerts/rules", guards=ADMIN, include_in_schema=False)
async def ui_rules_save(request: Request[Any, Any, Any]) -> Template:
    """Validate or save the rules editor; errors come back with their line numbers."""
    form = await request.form()
    text = str(form.get("text", ""))
    action = str(form.get("action", "validate"))
    errors: list[str] = []
    notice = ""
    try:
        if action == "save":
            result = await ask_alerts(request, "rules_put", {"text": text})
            await audit(request, "alert.rules", "rules.yaml", detail=f"{result['rules']} rules")
            notice = f"saved: {result['rules']} rules active"
        else:
            result = await ask_alerts(request, "rules_validate", {"text": text})
            errors = list(result["errors"])
            notice = "" if errors else f"valid: {result['rules']} rules"
    except HTTPException as exc:
        errors = [e.strip() for e in str(exc.detail).split("; ")]
    source = {"file": "rules.yaml", "text": text}
    return _fragment(request, "alerts_editor", source=source, errors=errors, notice=notice)


ALERTS_UI_ROUTES = [
    alerts_page,
    active_fragment,
    badge_fragment,
    history_fragment,
    deliveries_fragment,
    ui_ack,
    ui_resolve,
    ui_silence_alert,
    ui_silence,
    ui_unsilence,
    ui_rules_save,
]
