"""Request/reply queries of the program registry, served as ``vigil.api.ingest.program_*``.

Not-found and conflicts are answered in the payload (``{"error": ..., "status": 404}``) so
the gateway can map them to HTTP; a malformed request raises and becomes a 400.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from services.core.config.programs import ProgramSpec
from services.ingest.programs.manager import ProgramManager, status_event
from services.ingest.programs.output import tail
from services.ingest.programs.runner import ProgramRunner
from services.ingest.programs.validate import SpecError, decode_spec

Handler = Callable[[bytes], Awaitable[Any]]


class IdQuery(msgspec.Struct, kw_only=True):
    id: str
    lines: int = 200
    hours: float = 24.0


def _query(data: bytes) -> IdQuery:
    return msgspec.json.decode(data or b"{}", type=IdQuery)


def _not_found(program_id: str) -> dict[str, Any]:
    return {"error": f"no program {program_id!r} on this host", "status": 404}


def program_view(runner: ProgramRunner, host: str) -> dict[str, Any]:
    """A program's definition summary with its current status and recent samples."""
    spec: ProgramSpec = runner.spec
    return {
        "id": spec.id,
        "name": spec.label,
        "origin": runner.origin,
        "kind": "matched" if spec.matched else "started",
        "argv": spec.argv,
        "cwd": spec.cwd,
        "autostart": spec.autostart,
        "restart": spec.restart,
        "max_retries": spec.max_retries,
        "status": msgspec.to_builtins(status_event(runner, host)),
        "recent": runner.history.recent_points(),
    }


def endpoints(manager: ProgramManager) -> dict[str, Handler]:
    """The RPC methods the ingest service adds to its micro service."""

    def find(program_id: str) -> ProgramRunner | None:
        return manager.runners.get(program_id)

    async def program_list(_data: bytes) -> dict[str, Any]:
        views = [program_view(r, manager.host) for r in manager.runners.values()]
        return {"host": manager.host, "programs": sorted(views, key=lambda v: v["id"])}

    async def program_get(data: bytes) -> dict[str, Any]:
        q = _query(data)
        runner = find(q.id)
        if runner is None:
            return _not_found(q.id)
        view = program_view(runner, manager.host)
        view["spec"] = msgspec.to_builtins(runner.spec)
        return view

    async def program_tail(data: bytes) -> dict[str, Any]:
        q = _query(data)
        runner = find(q.id)
        if runner is None:
            return _not_found(q.id)
        return {"id": q.id, "lines": tail(runner.output, q.lines)}

    async def program_history(data: bytes) -> dict[str, Any]:
        q = _query(data)
        runner = find(q.id)
        if runner is None:
            return _not_found(q.id)
        since = time.time() - max(0.0, q.hours) * 3600
        return {"id": q.id, "step_s": 60, "points": runner.history.day_points(since)}

    async def program_put(data: bytes) -> dict[str, Any]:
        spec = decode_spec(data)
        try:
            runner = await manager.put(spec)
        except SpecError as exc:
            return {"error": str(exc), "status": 409}
        return program_view(runner, manager.host)

    async def program_delete(data: bytes) -> dict[str, Any]:
        q = _query(data)
        try:
            removed = await manager.delete(q.id)
        except SpecError as exc:
            return {"error": str(exc), "status": 409}
        return {"id": q.id, "deleted": True} if removed else _not_found(q.id)

    return {
        "program_list": program_list,
        "program_get": program_get,
        "program_tail": program_tail,
        "program_history": program_history,
        "program_put": program_put,
        "program_delete": program_delete,
    }
