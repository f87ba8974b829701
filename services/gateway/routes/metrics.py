"""Metrics REST under /api/v1/metrics: series, range queries, analyses, export, push, plugins.

Roles: reading needs a viewer. Pushing samples (``POST /api/v1/metrics``) and
registering a plugin (``POST /api/v1/metrics/plugins``) need the **operator** role
(a session or an API key created with it): a viewer key can read but never write
data. Push bodies, either form::

    {"samples": [{"name": "queue.depth", "value": 3, "labels": {"queue": "a"}}],
     "host": "pc7", "group": "plugin", "ts": 1700000000.0, "plugin_id": "my_plugin"}
    {"plugin_id": "my_plugin", "metrics": {"cpu_usage": 45.2, "error_count": 3}}

A push is all or nothing: one bad sample (name not ``[a-z][a-z0-9_.]*``, a value
that is not a finite number, more than 16 labels, a label key over 64 or value over
256 characters) rejects the request with 400 problem+json whose ``errors`` name each
bad field; nothing is published. A ``plugin_id`` must be registered first (404
otherwise) and becomes the label ``plugin``. Accepted samples go to
``vigil.metric.<host>.<group>`` (JetStream) and answer 202.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import Parameter

from services.analyzer.history.rpc import known_time_zone
from services.core import contracts
from services.core.contracts import MetricBatch, MetricSample
from services.gateway.routes.metrics_common import ask_analyzer, parse_duration, selector
from services.gateway.routes.metrics_ui import METRICS_UI_ROUTES
from services.gateway.security import current_user, requires_role
from services.gateway.state import gateway_state
from services.ingest.collectors.validate import MetricRejected, make_sample

VIEWER = [requires_role("viewer")]
OPERATOR = [requires_role("operator")]
MAX_PUSH_SAMPLES = 1000


def _sel(
    series_id: int | None,
    name: str | None,
    host: str | None,
    group: str | None,
    label: list[str] | None,
    start: float | None,
    end: float | None,
    range_: str | None,
    max_points: int | None = None,
    tier: str | None = None,
) -> dict[str, Any]:
    return selector(
        series_id=series_id,
        name=name,
        host=host,
        group=group,
        label=label,
        start=start,
        end=end,
        range_=range_,
        max_points=max_points,
        tier=tier,
    )


Range = Parameter(query="range", default=None, description="1h, 24h, 7d, 30d or seconds")
Label = Parameter(default=None, description="key=value, repeatable")


@get("/api/v1/metrics/series", guards=VIEWER, tags=["metrics"])
async def list_series(
    request: Request[Any, Any, Any],
    name: str | None = None,
    host: str | None = None,
    group: str | None = None,
    label: list[str] | None = Label,
    limit: int = 500,
) -> Any:
    """Known series (host, group, name, labels) with their latest value."""
    payload = selector(name=name, host=host, group=group, label=label, limit=limit)
    return await ask_analyzer(request, "metric_series", payload)


@get("/api/v1/metrics/query", guards=VIEWER, tags=["metrics"])
async def query(
    request: Request[Any, Any, Any],
    series_id: int | None = None,
    name: str | None = None,
    host: str | None = None,
    group: str | None = None,
    label: list[str] | None = Label,
    start: float | None = None,
    end: float | None = None,
    range_: str | None = Range,
    max_points: int | None = None,
    tier: str | None = None,
) -> Any:
    """Points (count, avg, min, max, last, P50/P95/P99) of the matching series; ≤ max_points."""
    payload = _sel(series_id, name, host, group, label, start, end, range_, max_points, tier)
    return await ask_analyzer(request, "metric_query", payload)


def _analysis(method: str, path: str, doc: str) -> Any:
    async def handler(
        request: Request[Any, Any, Any],
        series_id: int | None = None,
        name: str | None = None,
        host: str | None = None,
        group: str | None = None,
        label: list[str] | None = Label,
        start: float | None = None,
        end: float | None = None,
        range_: str | None = Range,
        threshold: float | None = None,
        days: float | None = None,
        tz: str | None = None,
    ) -> Any:
        if tz is not None and not known_time_zone(tz):
            raise ValidationException(
                detail="parameter 'tz': expected an IANA time zone such as Asia/Seoul or UTC",
                extra=[{"key": "tz", "message": "unknown time zone"}],
            )
        payload = _sel(series_id, name, host, group, label, start, end, range_)
        if method == "metric_forecast":
            payload["lookback_s"] = payload.pop("range_s")
        for key, value in (("threshold", threshold), ("days", days), ("tz", tz)):
            if value is not None:
                payload[key] = value
        return await ask_analyzer(request, method, payload)

    handler.__doc__ = doc
    handler.__name__ = method
    return get(path, guards=VIEWER, tags=["metrics"])(handler)


summary = _analysis("metric_summary", "/api/v1/metrics/summary", "avg, min, max, current.")
trend = _analysis("metric_trend", "/api/v1/metrics/trend", "Direction and strength of a trend.")
pattern = _analysis("metric_pattern", "/api/v1/metrics/pattern", "Hour × weekday usage.")
anomalies = _analysis("metric_anomalies", "/api/v1/metrics/anomalies", "Seasonal anomalies.")
forecast = _analysis(
    "metric_forecast", "/api/v1/metrics/forecast", "When a series reaches a threshold."
)


@get("/api/v1/metrics/window", guards=VIEWER, tags=["metrics"])
async def window(
    request: Request[Any, Any, Any],
    name: str,
    reducer: str = "avg",
    window: str | None = None,
    host: str | None = None,
    label: list[str] | None = Label,
) -> Any:
    """One reduced value per series over the last window (avg, p95, rate, …)."""
    payload = selector(name=name, host=host, label=label)
    payload.update(window_s=parse_duration(window, "window", 300.0), reducer=reducer)
    return await ask_analyzer(request, "metric_window", payload)


@get("/api/v1/metrics/export", guards=VIEWER, tags=["metrics"])
async def export(
    request: Request[Any, Any, Any],
    series_id: int | None = None,
    name: str | None = None,
    host: str | None = None,
    group: str | None = None,
    label: list[str] | None = Label,
    start: float | None = None,
    end: float | None = None,
    range_: str | None = Range,
    format: str = "csv",
) -> Response[str]:
    """The query's points as a CSV or JSON download."""
    if format not in ("csv", "json"):
        raise HTTPException(status_code=400, detail="format: expected csv or json")
    payload = _sel(series_id, name, host, group, label, start, end, range_)
    payload["format"] = format
    result = await ask_analyzer(request, "metric_export", payload, timeout=30.0)
    return Response(
        result["body"],
        media_type=result["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{result["filename"]}"'},
    )


# ---------------------------------------------------------------- push


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"body: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPException(status_code=400, detail="body: expected a JSON object")
    return value


def _bad(detail: str, errors: list[dict[str, str]] | None = None) -> HTTPException:
    """A 400 whose problem+json carries ``errors``: [{key, message}] per bad field."""
    return ValidationException(detail=detail, extra=errors or [{"key": "", "message": detail}])


def _samples(body: dict[str, Any], plugin_id: str) -> list[MetricSample]:
    raw: Any
    if "metrics" in body:  # seed 001's update-metrics form: {name: value}
        metrics = body["metrics"]
        if not isinstance(metrics, dict):
            raise _bad("metrics: expected an object of name: number")
        raw = [{"name": k, "value": v} for k, v in metrics.items()]
        where = "metrics.{name}"
    else:
        raw = body.get("samples")
        if not isinstance(raw, list):
            raise _bad("samples: expected a list of {name, value, labels}")
        where = "samples[{i}]"
    if not raw:
        raise _bad("no samples given")
    if len(raw) > MAX_PUSH_SAMPLES:
        raise _bad(f"samples: {len(raw)} given, at most {MAX_PUSH_SAMPLES} per request")
    good: list[MetricSample] = []
    errors: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        place = where.format(i=i, name=item.get("name") if isinstance(item, dict) else i)
        if not isinstance(item, dict):
            errors.append({"key": place, "message": "expected an object"})
            continue
        labels = item.get("labels") or {}
        if plugin_id and isinstance(labels, dict):
            labels = {**labels, "plugin": plugin_id}
        try:
            good.append(make_sample(item.get("name"), item.get("value"), labels))
        except MetricRejected as exc:
            errors.append({"key": place, "message": str(exc)})
    if errors:
        first = errors[0]
        raise _bad(f"{len(errors)} bad sample(s); {first['key']}: {first['message']}", errors)
    return good


def _timestamp(body: dict[str, Any]) -> float:
    now = time.time()
    ts = body.get("ts", now)
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise _bad("ts: expected Unix seconds as a number")
    if not now - 86400 <= ts <= now + 300:
        raise _bad("ts: must lie within the last 24 h (and at most 5 min ahead)")
    return float(ts)


@post("/api/v1/metrics", guards=OPERATOR, tags=["metrics"], status_code=202)
async def push(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Push samples (plugins, scripts). Operator role; all-or-nothing; see the module doc."""
    state = gateway_state(request)
    body = await _body(request)
    plugin_id = body.get("plugin_id") or ""
    if not isinstance(plugin_id, str):
        raise _bad("plugin_id: expected a string")
    if plugin_id:
        plugins = await ask_analyzer(request, "metric_plugins", {})
        if plugin_id not in {p["plugin_id"] for p in plugins.get("plugins", [])}:
            raise HTTPException(
                status_code=404,
                detail=f"plugin {plugin_id!r} is not registered (POST /api/v1/metrics/plugins)",
            )
    samples = _samples(body, plugin_id)
    host = body.get("host") or state.settings.host
    group = body.get("group") or ("plugin" if plugin_id else "push")
    for field, value in (("host", host), ("group", group)):
        if not isinstance(value, str) or len(value) > 64 or contracts.token(value) != value:
            raise _bad(f"{field}: letters, digits, '_' or '-' only, at most 64 characters")
    batch = MetricBatch(host=host, group=group, ts=_timestamp(body), samples=samples)
    if state.bus is None:
        raise HTTPException(status_code=503, detail="gateway has no NATS connection")
    msg_id = request.headers.get("idempotency-key") or uuid.uuid4().hex
    subject = contracts.metric(host, group)
    try:
        await state.bus.publish(subject, batch, msg_id=f"push:{msg_id}")
    except Exception as exc:
        raise HTTPException(status_code=503, detail=f"not stored: {type(exc).__name__}") from None
    return {"accepted": len(samples), "subject": subject, "ts": batch.ts}


@post("/api/v1/metrics/plugins", guards=OPERATOR, tags=["metrics"], status_code=201)
async def register_plugin(request: Request[Any, Any, Any]) -> Any:
    """Register a plugin that pushes metrics: {plugin_id, plugin_name, description}."""
    body = await _body(request)
    user = current_user(request)
    payload: dict[str, Any] = {
        k: body[k] for k in ("plugin_id", "plugin_name", "description") if k in body
    }
    if "plugin_id" not in payload:
        raise _bad("plugin_id: required")
    payload["by"] = user.name if user else ""
    return await ask_analyzer(request, "metric_register_plugin", payload)


@get("/api/v1/metrics/plugins", guards=VIEWER, tags=["metrics"])
async def list_plugins(request: Request[Any, Any, Any]) -> Any:
    """Registered plugins with their last push and sample count."""
    return await ask_analyzer(request, "metric_plugins", {})


METRICS_ROUTES = [
    list_series,
    query,
    summary,
    trend,
    pattern,
    anomalies,
    forecast,
    window,
    export,
    push,
    register_plugin,
    list_plugins,
    *METRICS_UI_ROUTES,
]
