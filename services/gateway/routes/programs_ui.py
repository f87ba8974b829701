"""The Programs page, a program's detail page, and their HTMX fragments (incl. Overview tiles)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.response import Template

from services.gateway.routes.pages import page_context
from services.gateway.routes.programs_common import OPERATOR, VIEWER, ask_ingest, send_command

SPARK_W, SPARK_H = 120, 28
STATE_CLASS = {
    "running": "ok",
    "starting": "warn",
    "stopping": "warn",
    "stopped": "idle",
    "exited": "idle",
    "crashed": "bad",
    "failed": "bad",
    "unknown": "idle",
}


def sparkline(values: list[float], width: int = SPARK_W, height: int = SPARK_H) -> str:
    """SVG polyline points for ``values`` scaled into width × height (empty when < 2)."""
    if len(values) < 2:
        return ""
    top = max(max(values), 1e-9)
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )


def humanize_uptime(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _decorate(program: dict[str, Any]) -> dict[str, Any]:
    recent = program.get("recent", [])
    status = program.get("status", {})
    program["spark_cpu"] = sparkline([p["cpu_percent"] for p in recent])
    program["spark_rss"] = sparkline([p["rss_mb"] for p in recent])
    program["css"] = STATE_CLASS.get(status.get("state", "unknown"), "idle")
    program["uptime"] = humanize_uptime(status.get("uptime_s", 0.0)) if status.get("pid") else ""
    return program


async def _programs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        answer = await ask_ingest(request, "program_list")
    except HTTPException as exc:
        return {"error": exc.detail, "programs": []}
    answer["programs"] = [_decorate(p) for p in answer.get("programs", [])]
    return dict(answer)


@get("/programs", guards=VIEWER)
async def programs_page(request: Request[Any, Any, Any]) -> Template:
    """Every program with live status, sparklines and the command buttons."""
    ctx = page_context(request, "programs", data=await _programs(request))
    return Template(template_name="pages/programs.html", context=ctx)


@get("/ui/fragments/programs/table", guards=VIEWER)
async def programs_table(request: Request[Any, Any, Any]) -> Template:
    ctx = page_context(request, "programs", data=await _programs(request))
    return Template(template_name="fragments/programs_table.html", context=ctx)


@get("/ui/fragments/programs", guards=VIEWER)
async def programs_tiles(request: Request[Any, Any, Any]) -> Template:
    """Compact program tiles for the Overview page."""
    ctx = page_context(request, "overview", data=await _programs(request))
    return Template(template_name="fragments/programs_tiles.html", context=ctx)


async def _detail(request: Request[Any, Any, Any], program_id: str) -> dict[str, Any]:
    return _decorate(await ask_ingest(request, "program_get", {"id": program_id}))


@get("/programs/{program_id:str}", guards=VIEWER)
async def program_page(request: Request[Any, Any, Any], program_id: str) -> Template:
    """One program: status, 24 h chart, output tail."""
    program = await _detail(request, program_id)
    tail = await ask_ingest(request, "program_tail", {"id": program_id, "lines": 200})
    ctx = page_context(request, "programs", p=program, lines=tail.get("lines", []))
    return Template(template_name="pages/program.html", context=ctx)


@get("/ui/fragments/programs/{program_id:str}/status", guards=VIEWER)
async def program_status_fragment(request: Request[Any, Any, Any], program_id: str) -> Template:
    ctx = page_context(request, "programs", p=await _detail(request, program_id))
    return Template(template_name="fragments/program_status.html", context=ctx)


@get("/ui/fragments/programs/{program_id:str}/output", guards=VIEWER)
async def program_output_fragment(request: Request[Any, Any, Any], program_id: str) -> Template:
    tail = await ask_ingest(request, "program_tail", {"id": program_id, "lines": 200})
    ctx = page_context(request, "programs", lines=tail.get("lines", []))
    return Template(template_name="fragments/program_output.html", context=ctx)


@post("/ui/programs/{program_id:str}/{action:str}", guards=OPERATOR, status_code=200)
async def program_button(request: Request[Any, Any, Any], program_id: str, action: str) -> Template:
    """A Start/Stop/Restart button: runs the command, answers with a one-line result."""
    try:
        reply = await send_command(request, program_id, action)
        result, detail = reply.result, reply.detail
    except HTTPException as exc:
        result, detail = "failed", str(exc.detail)
    ctx = page_context(
        request,
        "programs",
        program=program_id,
        result=result,
        detail=detail,
        action=action,
        at=time.strftime("%H:%M:%S"),
    )
    return Template(template_name="fragments/program_cmd_result.html", context=ctx)


PROGRAMS_UI_ROUTES = [
    programs_page,
    programs_table,
    programs_tiles,
    program_page,
    program_status_fragment,
    program_output_fragment,
    program_button,
]
