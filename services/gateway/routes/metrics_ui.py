"""The Metrics page, the Overview gauges and their HTMX fragments; ``GET /metrics`` negotiates
between the page (browsers) and the Prometheus exposition (scrapers)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.gateway.routes.metrics_common import RANGES, ask_analyzer
from services.gateway.routes.metrics_prom import exposition
from services.gateway.routes.pages import page_context
from services.gateway.security import current_user, requires_role
from services.gateway.state import gateway_state

VIEWER = [requires_role("viewer")]
PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GAUGES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("cpu", "cpu.percent", {}),
    ("mem", "mem.percent", {}),
    ("disk", "disk.used_percent", {"mount": "/"}),
    ("gpu", "gpu.util_percent", {}),
)
FORECAST_THRESHOLDS = {"disk.used_percent": 100.0, "mem.percent": 100.0, "swap.percent": 100.0}


async def _try(request: Request[Any, Any, Any], method: str, payload: dict[str, Any]) -> Any:
    """Fragments show an error line in place instead of failing."""
    try:
        return await ask_analyzer(request, method, payload, timeout=5.0)
    except HTTPException as exc:
        return {"error": exc.detail, "series": []}


def spark_path(values: list[float], width: int = 120, height: int = 28) -> str:
    """An SVG polyline's points for a sparkline (empty when fewer than two values)."""
    clean = [v for v in values if v is not None]
    if len(clean) < 2:
        return ""
    low, high = min(clean), max(clean)
    span = (high - low) or 1.0
    step = width / (len(clean) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v - low) / span * (height - 2) - 1:.1f}"
        for i, v in enumerate(clean)
    )


async def _pick_host(
    request: Request[Any, Any, Any], host: str | None, *, any_metric: bool = False
) -> tuple[str, list[str]]:
    """The host to show (asked for, else this machine, else the first) and all hosts."""
    if any_metric:
        got = await _try(request, "metric_hosts", {})
        hosts = [h["host"] for h in got.get("hosts", [])]
    else:
        got = await _try(request, "metric_series", {"name": "cpu.percent", "limit": 200})
        hosts = sorted({s["host"] for s in got.get("series", [])})
    if host and host in hosts:
        return host, hosts
    mine = gateway_state(request).settings.host
    return (mine if mine in hosts or not hosts else hosts[0]), hosts


async def gauges_context(request: Request[Any, Any, Any], host: str | None) -> dict[str, Any]:
    chosen, hosts = await _pick_host(request, host)

    async def one(key: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
        sel = {"name": name, "host": chosen, "labels": labels, "range_s": 3600, "max_points": 60}
        got = await _try(request, "metric_query", {**sel, "limit": 1})
        series = got.get("series") or []
        if not series:
            return {"key": key, "value": None, "spark": ""}
        s = series[0]
        return {
            "key": key,
            "value": s["last_value"],
            "fresh": time.time() - s["last_ts"] < 120,
            "spark": spark_path(s["points"]["avg"]),
        }

    tiles = await asyncio.gather(*(one(*g) for g in GAUGES))
    return {"gauges": tiles, "host": chosen, "hosts": hosts}


@get("/ui/fragments/gauges", guards=VIEWER, include_in_schema=False)
async def gauges_fragment(request: Request[Any, Any, Any], host: str | None = None) -> Template:
    """CPU, memory, disk and GPU gauges with one-hour sparklines (Overview)."""
    ctx = page_context(request, "overview", **await gauges_context(request, host))
    return Template(template_name="fragments/metrics_gauges.html", context=ctx)


def _label_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


@get("/metrics", opt={"public_if": "open_metrics"}, include_in_schema=False)
async def metrics_page_or_exposition(
    request: Request[Any, Any, Any],
    host: str | None = None,
    series_id: int | None = None,
    group: str | None = None,
    range_: str = Parameter(query="range", default="1h"),
) -> Response[Any]:
    """Browsers get the Metrics page; anything else the Prometheus text format."""
    if "text/html" not in request.headers.get("accept", ""):
        text = await exposition(gateway_state(request))
        return Response(text, media_type=PROM_TYPE)
    if current_user(request) is None:  # /metrics may be open for scrapers, the page never is
        return Redirect(f"/login?next={quote(str(request.url.path))}")
    chosen, hosts = await _pick_host(request, host, any_metric=True)
    listing = await _try(request, "metric_series", {"host": chosen, "limit": 5000})
    everything = listing.get("series", [])
    groups = sorted({s["group"] for s in everything})
    series = [s for s in everything if not group or s["group"] == group]
    for s in series:
        s["label_text"] = _label_text(s["labels"])
    if series_id is None and series:
        cpu = [s for s in series if s["name"] == "cpu.percent"]
        series_id = (cpu or series)[0]["id"]
    ctx = page_context(
        request,
        "metrics",
        host=chosen,
        hosts=hosts,
        series=series,
        series_id=series_id,
        groups=groups,
        group=group or "",
        range_=range_ if range_ in RANGES else "1h",
        ranges=list(RANGES),
        error=listing.get("error"),
    )
    return Template(template_name="pages/metrics.html", context=ctx, media_type=MediaType.HTML)


def _heat(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "transparent"
    share = (value - low) / ((high - low) or 1.0)
    return f"rgba(31,111,235,{0.08 + 0.85 * share:.2f})"


@get("/ui/fragments/metrics/chart", guards=VIEWER, include_in_schema=False)
async def chart_fragment(
    request: Request[Any, Any, Any],
    series_id: int,
    range_: str = Parameter(query="range", default="1h"),
) -> Template:
    """Chart data (P50/P95/P99, anomalies, forecast), trend badge, summary and heatmap."""
    range_s = RANGES.get(range_, 3600.0)
    sel = {"series_id": series_id, "range_s": range_s}
    query, trend, anomalies, pattern = await asyncio.gather(
        _try(request, "metric_query", sel),
        _try(request, "metric_trend", sel),
        _try(request, "metric_anomalies", {**sel, "range_s": max(range_s, 86400.0)}),
        _try(request, "metric_pattern", {"series_id": series_id, "days": 28}),
    )
    series = (query.get("series") or [None])[0]
    ctx: dict[str, Any] = {"error": query.get("error"), "series": series, "range_": range_}
    if series:
        threshold = FORECAST_THRESHOLDS.get(series["name"])
        forecast = None
        if threshold is not None:
            got = await _try(
                request,
                "metric_forecast",
                {
                    "series_id": series_id,
                    "threshold": threshold,
                    "lookback_s": max(range_s, 86400.0),
                },
            )
            forecast = (got.get("series") or [{}])[0].get("forecast")
        found = (anomalies.get("series") or [{}])[0].get("anomalies", [])
        start = query["start"]
        ctx.update(
            tier=query["tier"],
            step=query["step"],
            trend=(trend.get("series") or [{}])[0].get("trend"),
            summary=_summary(series),
            anomalies=[a for a in found if a["ts"] >= start],
            forecast=forecast,
            label_text=_label_text(series["labels"]),
        )
        grid = ((pattern.get("series") or [{}])[0].get("pattern") or {}).get("grid")
        if grid:
            flat = [v for row in grid for v in row if v is not None]
            low, high = (min(flat), max(flat)) if flat else (0.0, 1.0)
            ctx["heat"] = [[(v, _heat(v, low, high)) for v in row] for row in grid]
    page = page_context(request, "metrics", **ctx)
    return Template(template_name="fragments/metrics_chart.html", context=page)


def _summary(series: dict[str, Any]) -> dict[str, Any]:
    pts = series["points"]
    n = sum(pts["count"])
    with contextlib.suppress(ValueError, ZeroDivisionError):
        return {
            "avg": sum(c * a for c, a in zip(pts["count"], pts["avg"], strict=True)) / n,
            "min": min(pts["min"]),
            "max": max(pts["max"]),
            "current": series["last_value"],
        }
    return {"avg": None, "min": None, "max": None, "current": series["last_value"]}


METRICS_UI_ROUTES = [metrics_page_or_exposition, gauges_fragment, chart_fragment]
