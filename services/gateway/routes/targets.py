"""Targets: REST under /api/v1/targets, the Targets page, its detail view and Overview tiles.

The registry lives in the ingest service; every route asks it over NATS
(``vigil.api.ingest.targets_*``). Viewers read; operators "test now"; admins add,
edit and delete. Secrets appear only as the names of the variables that hold them.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from services.core.bus import RpcError
from services.gateway.audit import audit
from services.gateway.routes.pages import page_context
from services.gateway.routes.targets_form import form_to_spec, spec_to_form
from services.gateway.security import requires_role
from services.gateway.state import gateway_state

VIEWER = [requires_role("viewer")]
OPERATOR = [requires_role("operator")]
ADMIN = [requires_role("admin")]
KINDS = ("http", "model", "n8n", "database")
# The response-time series each kind publishes (history comes from the analyzer).
LATENCY_METRIC = {
    "http": "http.response_ms",
    "model": "model.latency_ms",
    "n8n": "n8n.api_ms",
    "database": "db.ping_ms",
}
RANGES = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}


async def ask_targets(request: Request[Any, Any, Any], method: str, payload: Any = None) -> Any:
    """Ask ingest; its 400s become 400 (404 for an unknown id), an absent service 503."""
    try:
        # "test now" waits for the check itself; everything else is a quick lookup.
        timeout = 65.0 if method == "targets_test" else 5.0
        return await gateway_state(request).ask("ingest", method, payload or {}, timeout=timeout)
    except RpcError as exc:
        status = 400 if exc.code == 400 else 502
        if exc.description.startswith("unknown target"):
            status = 404
        raise HTTPException(status_code=status, detail=exc.description) from None
    except Exception as exc:  # no responders, timeout, no connection
        raise HTTPException(
            status_code=503, detail=f"ingest service unavailable ({type(exc).__name__})"
        ) from None


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    import json

    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"body: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPException(status_code=400, detail="body: expected a JSON object (a target spec)")
    return value


# ---------------------------------------------------------------- REST


@get("/api/v1/targets", guards=VIEWER)
async def list_targets(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every target with its status, last check, last error and recent response times."""
    result: dict[str, Any] = await ask_targets(request, "targets_list")
    return result


@get("/api/v1/targets/{target_id:str}", guards=VIEWER)
async def get_target(request: Request[Any, Any, Any], target_id: str) -> dict[str, Any]:
    """One target: spec (secret names only), history, last steps and lost points."""
    result: dict[str, Any] = await ask_targets(request, "targets_get", {"id": target_id})
    return result


@post("/api/v1/targets", guards=ADMIN, status_code=201)
async def create_target(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Add a target (admin). The body is a target spec; errors name the field."""
    spec = await _body(request)
    result: dict[str, Any] = await ask_targets(
        request, "targets_put", {"spec": spec, "create": True}
    )
    await audit(request, "target.create", str(spec.get("id", "")))
    return result


@put("/api/v1/targets/{target_id:str}", guards=ADMIN)
async def replace_target(request: Request[Any, Any, Any], target_id: str) -> dict[str, Any]:
    """Replace a target added over the API (admin); targets from vigil.toml are read-only."""
    spec = await _body(request)
    spec.setdefault("id", target_id)
    if spec["id"] != target_id:
        raise HTTPException(status_code=400, detail="id: must match the URL")
    await ask_targets(request, "targets_get", {"id": target_id})
    result: dict[str, Any] = await ask_targets(request, "targets_put", {"spec": spec})
    await audit(request, "target.update", target_id)
    return result


@delete("/api/v1/targets/{target_id:str}", guards=ADMIN, status_code=200)
async def delete_target(request: Request[Any, Any, Any], target_id: str) -> dict[str, Any]:
    """Remove a target added over the API (admin)."""
    result: dict[str, Any] = await ask_targets(request, "targets_delete", {"id": target_id})
    await audit(request, "target.delete", target_id)
    return result


@post("/api/v1/targets/{target_id:str}/test", guards=OPERATOR, status_code=200)
async def test_target(request: Request[Any, Any, Any], target_id: str) -> dict[str, Any]:
    """Check the target now (operator); answers with the fresh result and its steps."""
    result: dict[str, Any] = await ask_targets(request, "targets_test", {"id": target_id})
    await audit(request, "target.test", target_id, detail=str(result.get("status")))
    return result


# ---------------------------------------------------------------- UI helpers


def fmt_ago(ts: float | None) -> str:
    if not ts:
        return "—"
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def sparkline(values: list[float | None], width: int = 100, height: int = 24) -> str:
    """SVG polyline points for response times (gaps where a check failed)."""
    numbers = [v for v in values if v is not None]
    if len(numbers) < 2:
        return ""
    top = max(numbers) or 1.0
    step = width / max(1, len(values) - 1)
    points = [
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return " ".join(points)


def _ctx(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    return page_context(
        request, "targets", fmt_ago=fmt_ago, sparkline=sparkline, kinds=KINDS, **extra
    )


async def _safe(request: Request[Any, Any, Any], method: str, payload: Any = None) -> Any:
    """Pages show a failure in place instead of failing whole."""
    try:
        return await ask_targets(request, method, payload)
    except HTTPException as exc:
        return {"error": exc.detail, "status_code": exc.status_code}


async def stored_history(
    request: Request[Any, Any, Any], target: dict[str, Any], range_key: str
) -> dict[str, Any] | None:
    """Response-time history of a target from the analyzer (None when it cannot answer)."""
    name = LATENCY_METRIC.get(str(target.get("kind")))
    if not name or "error" in target:
        return None
    selector = {
        "name": name,
        "group": "target",
        "labels": {"target": target["id"]},
        "range_s": RANGES.get(range_key, RANGES["24h"]),
        "max_points": 240,
    }
    try:
        # Short: the page falls back to recent checks, and an absent analyzer costs the
        # whole timeout (the SSE hub's vigil.> subscription hides "no responders").
        answer = await gateway_state(request).ask("analyzer", "metric_query", selector, 3.0)
    except Exception:  # the analyzer is optional for this page: fall back to recent checks
        return None
    series = answer.get("series") or []
    if not series:
        return None
    points = series[0].get("points") or {}
    return {"ts": points.get("ts", []), "avg": points.get("avg", []),
            "p95": points.get("p95", []), "tier": answer.get("tier", "")}  # fmt: skip


# ---------------------------------------------------------------- pages and fragments


@get("/targets", guards=VIEWER, include_in_schema=False)
async def targets_page(request: Request[Any, Any, Any]) -> Template:
    """The Targets page: list with status and sparklines; the add form for admins."""
    listing = await _safe(request, "targets_list")
    ctx = _ctx(request, listing=listing, form={"kind": "http", "enabled": "on",
                                              "verify_tls": "on"}, error="")  # fmt: skip
    return Template(template_name="pages/targets.html", context=ctx)


@get("/ui/fragments/targets/list", guards=VIEWER, include_in_schema=False)
async def list_fragment(request: Request[Any, Any, Any]) -> Template:
    listing = await _safe(request, "targets_list")
    return Template(
        template_name="fragments/targets_list.html", context=_ctx(request, listing=listing)
    )


@get("/ui/fragments/targets", guards=VIEWER, include_in_schema=False)
async def tiles_fragment(request: Request[Any, Any, Any]) -> Template:
    """Target tiles for the Overview page (hx-get; refresh on sse:target)."""
    listing = await _safe(request, "targets_list")
    return Template(
        template_name="fragments/targets_tiles.html", context=_ctx(request, listing=listing)
    )


@get("/targets/{target_id:str}", guards=VIEWER, include_in_schema=False)
async def detail_page(
    request: Request[Any, Any, Any], target_id: str, range: str = "24h"
) -> Template:
    """One target: status, health score and its reasons, steps, history chart, actions."""
    target = await _safe(request, "targets_get", {"id": target_id})
    if target.get("status_code") == 404:
        raise HTTPException(status_code=404, detail=f"no target {target_id!r}")
    form = spec_to_form(target.get("spec", {})) if "spec" in target else {}
    key = range if range in RANGES else "24h"
    stored = await stored_history(request, target, key)
    ctx = _ctx(request, target=target, form=form, error="", editing=True, stored=stored,
               range_key=key, ranges=RANGES)  # fmt: skip
    return Template(template_name="pages/target_detail.html", context=ctx)


@get("/ui/fragments/target/{target_id:str}", guards=VIEWER, include_in_schema=False)
async def detail_fragment(
    request: Request[Any, Any, Any], target_id: str, range: str = "24h"
) -> Template:
    """The detail block, refreshed on each target event."""
    target = await _safe(request, "targets_get", {"id": target_id})
    key = range if range in RANGES else "24h"
    stored = await stored_history(request, target, key)
    ctx = _ctx(request, target=target, stored=stored, range_key=key, ranges=RANGES)
    return Template(template_name="fragments/target_detail.html", context=ctx)


@post("/ui/targets/{target_id:str}/test", guards=OPERATOR, include_in_schema=False)
async def ui_test(request: Request[Any, Any, Any], target_id: str) -> Template:
    """The "test now" button: runs the check and returns the refreshed detail."""
    target = await _safe(request, "targets_test", {"id": target_id})
    if "error" not in target:
        await audit(request, "target.test", target_id, detail=str(target.get("status")))
    return Template(
        template_name="fragments/target_detail.html", context=_ctx(request, target=target)
    )


@post("/ui/targets", guards=ADMIN, include_in_schema=False)
async def ui_save(request: Request[Any, Any, Any]) -> Template | Response[str] | Redirect:
    """Add or edit from the form; on success go to the target, else show the form with the error."""
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items()}
    creating = form.get("mode") != "edit"
    try:
        spec = form_to_spec(form)
        saved = await ask_targets(request, "targets_put", {"spec": spec, "create": creating})
    except (ValueError, HTTPException) as exc:
        error = str(getattr(exc, "detail", exc))
        ctx = _ctx(request, form=form, error=error, editing=not creating)
        return Template(template_name="fragments/target_form.html", context=ctx, status_code=200)
    await audit(request, "target.create" if creating else "target.update", saved["id"])
    return go_to(request, f"/targets/{saved['id']}")


@post("/ui/targets/{target_id:str}/delete", guards=ADMIN, include_in_schema=False)
async def ui_delete(request: Request[Any, Any, Any], target_id: str) -> Response[str] | Redirect:
    await ask_targets(request, "targets_delete", {"id": target_id})
    await audit(request, "target.delete", target_id)
    return go_to(request, "/targets")


def go_to(request: Request[Any, Any, Any], url: str) -> Response[str] | Redirect:
    """HTMX follows a 303 inside its XHR and would swap the page in; tell it to navigate."""
    if request.headers.get("hx-request"):
        return Response("", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


TARGETS_ROUTES = [
    list_targets,
    get_target,
    create_target,
    replace_target,
    delete_target,
    test_target,
    targets_page,
    list_fragment,
    tiles_fragment,
    detail_page,
    detail_fragment,
    ui_test,
    ui_save,
    ui_delete,
]
