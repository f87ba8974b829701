"""REST for programs under /api/v1/programs: list, detail, output tail, 24 h history,
start/stop/restart (operator) and registry changes (admin). Pages live in programs_ui.py.

Commands go to ``vigil.cmd.program.<id>.<action>``; only the ingest that has the
program answers, so no answer within the timeout means unknown id or host offline.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException

from services.gateway.routes.programs_common import (
    ADMIN,
    OPERATOR,
    VIEWER,
    ask_ingest,
    audit,
    send_command,
)
from services.gateway.routes.programs_common import program_history as load_history
from services.gateway.routes.programs_ui import PROGRAMS_UI_ROUTES


@get("/api/v1/programs", guards=VIEWER)
async def list_programs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every program with its live status and recent samples."""
    result: dict[str, Any] = await ask_ingest(request, "program_list")
    return result


@get("/api/v1/programs/{program_id:str}", guards=VIEWER)
async def get_program(request: Request[Any, Any, Any], program_id: str) -> dict[str, Any]:
    """One program: definition, status, recent samples."""
    result: dict[str, Any] = await ask_ingest(request, "program_get", {"id": program_id})
    return result


@get("/api/v1/programs/{program_id:str}/output", guards=VIEWER)
async def program_output(
    request: Request[Any, Any, Any], program_id: str, lines: int = 200
) -> dict[str, Any]:
    """The last lines of the program's captured stdout/stderr."""
    payload = {"id": program_id, "lines": max(1, min(lines, 2000))}
    result: dict[str, Any] = await ask_ingest(request, "program_tail", payload)
    return result


@get("/api/v1/programs/{program_id:str}/history", guards=VIEWER)
async def program_history(
    request: Request[Any, Any, Any], program_id: str, hours: float = 24.0
) -> dict[str, Any]:
    """CPU % and RSS over up to 24 h (from the analyzer's history, else ingest's ring)."""
    return await load_history(request, program_id, max(0.1, min(hours, 24.0)))


@post("/api/v1/programs/{program_id:str}/{action:str}", guards=OPERATOR, status_code=200)
async def program_command(
    request: Request[Any, Any, Any], program_id: str, action: str
) -> Response[Any]:
    """start | stop | restart. 200 with the reply (done, already); 409 when it failed."""
    reply = await send_command(request, program_id, action)
    body = msgspec.to_builtins(reply)
    if reply.result == "failed":
        problem = {"type": "about:blank", "title": "Conflict", "status": 409, **body}
        problem["detail"] = reply.detail
        return Response(problem, status_code=409, media_type="application/problem+json")
    return Response(body, status_code=200)


@put("/api/v1/programs/{program_id:str}", guards=ADMIN, status_code=200)
async def put_program(request: Request[Any, Any, Any], program_id: str) -> dict[str, Any]:
    """Add or replace a program (JSON: argv list, cwd, env, restart policy, …)."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"body: not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="body: expected a JSON object")
    body["id"] = program_id
    result: dict[str, Any] = await ask_ingest(request, "program_put", body)
    await audit(request, "program.put", program_id, detail=json.dumps(body)[:1000])
    return result


@delete("/api/v1/programs/{program_id:str}", guards=ADMIN, status_code=200)
async def delete_program(request: Request[Any, Any, Any], program_id: str) -> dict[str, Any]:
    """Remove an API-registered program (stopping it first)."""
    result: dict[str, Any] = await ask_ingest(request, "program_delete", {"id": program_id})
    await audit(request, "program.delete", program_id)
    return result


PROGRAMS_ROUTES = [
    list_programs,
    get_program,
    program_output,
    program_history,
    program_command,
    put_program,
    delete_program,
    *PROGRAMS_UI_ROUTES,
]
