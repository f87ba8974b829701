"""REST for alerts under /api/v1/alerts: active, history (JSON/CSV), ack, resolve, silences,
rules and their editor, receivers and the delivery log. The UI routes live in alerts_ui.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from services.gateway.audit import audit
from services.gateway.routes.alerts_common import (
    ADMIN,
    OPERATOR,
    VIEWER,
    ask_alerts,
    history_csv,
    history_query,
    json_body,
    who,
)
from services.gateway.routes.alerts_ui import ALERTS_UI_ROUTES
from services.gateway.sse import ClientFilter
from services.gateway.state import gateway_state


def _split(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


def alert_matches_target(data: str, targets: frozenset[str]) -> bool:
    """An alert concerns a target when a label value, its rule or its fingerprint names it."""
    if not targets:
        return True
    try:
        event = json.loads(data)
    except ValueError:
        return False
    names = {event.get("rule", ""), event.get("fingerprint", "")}
    names.update(str(v) for v in (event.get("labels") or {}).values())
    return bool(names & targets)


@get("/api/v1/alerts/stream", guards=VIEWER, tags=["alerts"])
async def alert_stream(
    request: Request[Any, Any, Any],
    severity: str | None = None,
    target: str | None = None,
    last_event_id: str | None = None,
) -> ServerSentEvent:
    """AlertEvents as SSE, filtered by severity and by target (a label value such as a host,
    program or target id, or a rule name); comma lists. Resumes with ``Last-Event-ID``."""
    state = gateway_state(request)
    if state.hub.full():
        raise HTTPException(status_code=503, detail="too many SSE clients; try again later")
    targets = _split(target)
    flt = ClientFilter(frozenset({"alert"}), frozenset(), _split(severity))
    resume = request.headers.get("last-event-id") or last_event_id or ""
    client = state.hub.connect(flt, resume)
    heartbeat = state.settings.gateway.sse_heartbeat_s

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        yield ServerSentEventMessage(
            data="{}", event="hello", id=state.hub.event_id(client) or None
        )
        async for event in state.hub.events(client, heartbeat):
            if event is None:
                yield ServerSentEventMessage(comment="heartbeat")
            elif alert_matches_target(event.data, targets):
                ident = state.hub.event_id(client) if event.stream else None
                yield ServerSentEventMessage(data=event.data, event="alert", id=ident)

    return ServerSentEvent(messages(), retry_duration=2000)


@get("/api/v1/alerts", guards=VIEWER)
async def active_alerts(
    request: Request[Any, Any, Any], severity: str | None = None, target: str | None = None
) -> list[dict[str, Any]]:
    """Active alerts (pending, firing, acknowledged), most severe first."""
    payload = {"severity": severity or "", "target": target or ""}
    result: list[dict[str, Any]] = await ask_alerts(request, "active", payload)
    return result


@get("/api/v1/alerts/history", guards=VIEWER)
async def alert_history(
    request: Request[Any, Any, Any],
    rule: str | None = None,
    severity: str | None = None,
    alert_state: Annotated[str | None, Parameter(query="state")] = None,
    fingerprint: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 200,
    format: str = "json",
) -> Any:
    """Every transition with who and when, newest first; ``format=csv`` downloads it."""
    query = history_query(rule, severity, alert_state, fingerprint, since, until, limit)
    rows = await ask_alerts(request, "history", query)
    if format == "csv":
        return Response(
            history_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="alert-history.csv"'},
        )
    if format != "json":
        raise HTTPException(status_code=400, detail="format: expected json or csv")
    return rows


@post("/api/v1/alerts/{fingerprint:str}/ack", guards=OPERATOR, status_code=200)
async def ack_alert(request: Request[Any, Any, Any], fingerprint: str) -> dict[str, Any]:
    """Acknowledge an alert: no more repeats or escalation."""
    result: dict[str, Any] = await ask_alerts(
        request, "ack", {"fingerprint": fingerprint, "by": who(request)}
    )
    await audit(request, "alert.ack", fingerprint)
    return result


@post("/api/v1/alerts/{fingerprint:str}/resolve", guards=OPERATOR, status_code=200)
async def resolve_alert(request: Request[Any, Any, Any], fingerprint: str) -> dict[str, Any]:
    """Resolve an alert by hand (optional JSON body ``{"note": "..."}``)."""
    body = await json_body(request)
    payload = {"fingerprint": fingerprint, "by": who(request), "note": str(body.get("note", ""))}
    result: dict[str, Any] = await ask_alerts(request, "resolve", payload)
    await audit(request, "alert.resolve", fingerprint)
    return result


@get("/api/v1/alerts/silences", guards=VIEWER)
async def list_silences(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """Silences, newest first, with whether each is active now."""
    result: list[dict[str, Any]] = await ask_alerts(request, "silences")
    return result


@post("/api/v1/alerts/silences", guards=OPERATOR, status_code=201)
async def create_silence(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Body: ``{"matchers": {"label": "value" | "~regex"}, "duration": "2h", "reason": "..."}``
    (or ``starts_at``/``ends_at`` in Unix seconds)."""
    body = await json_body(request)
    body["by"] = who(request)
    result: dict[str, Any] = await ask_alerts(request, "silence", body)
    await audit(request, "alert.silence", result.get("id", ""), detail=json.dumps(body)[:500])
    return result


@delete("/api/v1/alerts/silences/{silence_id:str}", guards=OPERATOR, status_code=200)
async def end_silence(request: Request[Any, Any, Any], silence_id: str) -> dict[str, Any]:
    """End a silence now."""
    result: dict[str, Any] = await ask_alerts(
        request, "unsilence", {"id": silence_id, "by": who(request)}
    )
    await audit(request, "alert.unsilence", silence_id)
    return result


@get("/api/v1/alerts/rules", guards=VIEWER)
async def list_rules(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The loaded rules and, for each rejected rule, its file, line and reason."""
    result: dict[str, Any] = await ask_alerts(request, "rules")
    return result


@get("/api/v1/alerts/rules/source", guards=ADMIN)
async def rules_source(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The editable rules file (YAML text)."""
    result: dict[str, Any] = await ask_alerts(request, "rules_source")
    return result


@put("/api/v1/alerts/rules/source", guards=ADMIN, status_code=200)
async def put_rules_source(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Replace the editable rules file; refused with line-numbered reasons if any rule is bad."""
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise HTTPException(status_code=400, detail="text: expected the YAML document as a string")
    result: dict[str, Any] = await ask_alerts(request, "rules_put", {"text": text})
    await audit(request, "alert.rules", "rules.yaml", detail=f"{result.get('rules')} rules")
    return result


@post("/api/v1/alerts/rules/validate", guards=ADMIN, status_code=200)
async def validate_rules(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Check a rules document without saving it."""
    body = await json_body(request)
    result: dict[str, Any] = await ask_alerts(
        request, "rules_validate", {"text": str(body.get("text", ""))}
    )
    return result


@get("/api/v1/alerts/receivers", guards=ADMIN)
async def list_receivers(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """Configured receivers (secrets masked)."""
    result: list[dict[str, Any]] = await ask_alerts(request, "receivers")
    return result


@post("/api/v1/alerts/receivers/{name:str}/test", guards=ADMIN, status_code=202)
async def test_receiver(request: Request[Any, Any, Any], name: str) -> dict[str, Any]:
    """Send a test notification to one receiver (see the delivery log for the outcome)."""
    result: dict[str, Any] = await ask_alerts(request, "test_receiver", {"receiver": name})
    await audit(request, "alert.test_receiver", name)
    return result


@get("/api/v1/alerts/deliveries", guards=OPERATOR)
async def list_deliveries(
    request: Request[Any, Any, Any],
    receiver: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The delivery log: every attempt with its status, HTTP code, error and duration."""
    payload = {"receiver": receiver or "", "status": status or "", "limit": max(1, limit)}
    result: list[dict[str, Any]] = await ask_alerts(request, "deliveries", payload)
    return result


ALERTS_ROUTES = [
    alert_stream,
    active_alerts,
    alert_history,
    ack_alert,
    resolve_alert,
    list_silences,
    create_silence,
    end_silence,
    list_rules,
    rules_source,
    put_rules_source,
    validate_rules,
    list_receivers,
    test_receiver,
    list_deliveries,
    *ALERTS_UI_ROUTES,
]
