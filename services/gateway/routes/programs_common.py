"""Helpers shared by the programs REST and UI routes: ask ingest, send a command, audit it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException

from services.core import contracts
from services.core.bus import RpcError
from services.gateway.security import requires_role
from services.gateway.state import gateway_state

try:  # the audit helper belongs to the security area
    from services.gateway.audit import audit
except ImportError:  # pragma: no cover - older trees without it

    async def audit(
        request: Any, action: str, target: str = "", ok: bool = True, detail: str = ""
    ) -> None:
        return None


VIEWER = [requires_role("viewer")]
OPERATOR = [requires_role("operator")]
ADMIN = [requires_role("admin")]
ACTIONS = ("start", "stop", "restart")
UNKNOWN_TIMEOUT_S = 10.0
# A stop waits for the program's stop timeout, then SIGKILL; a start for its start_secs.
COMMAND_MARGIN_S = 10.0


async def ask_ingest(request: Request[Any, Any, Any], method: str, payload: Any = None) -> Any:
    """Ask ingest's program registry; map its answers and absence to HTTP errors."""
    try:
        answer = await gateway_state(request).ask("ingest", method, payload or {}, timeout=5.0)
    except RpcError as exc:
        status = 400 if exc.code == 400 else 502
        raise HTTPException(status_code=status, detail=exc.description) from None
    except Exception as exc:  # no responders, timeout, no connection
        raise HTTPException(
            status_code=503, detail=f"ingest service unavailable ({type(exc).__name__})"
        ) from None
    if isinstance(answer, dict) and "error" in answer and "status" in answer:
        raise HTTPException(status_code=int(answer["status"]), detail=str(answer["error"]))
    return answer


async def send_command(
    request: Request[Any, Any, Any], program_id: str, action: str
) -> contracts.ProgramCommandReply:
    """Send one command and wait for the owning ingest's reply; audit it either way."""
    if action not in ACTIONS:
        raise HTTPException(status_code=404, detail=f"unknown action {action!r}")
    state = gateway_state(request)
    if state.bus is None:
        raise HTTPException(status_code=503, detail="gateway has no NATS connection")
    by = {"by": getattr(request.scope.get("vigil_user"), "name", "")}  # type: ignore[call-overload]
    timeout = await _command_timeout(request, program_id)
    try:
        raw = await state.bus.request(
            contracts.program_cmd(program_id, action), by, timeout=timeout
        )
        reply = msgspec.json.decode(raw, type=contracts.ProgramCommandReply)
    except Exception as exc:
        await audit(request, f"program.{action}", program_id, ok=False, detail=type(exc).__name__)
        raise HTTPException(
            status_code=404,
            detail=f"no host answered for program {program_id!r} (unknown, or its ingest is down)",
        ) from None
    await audit(
        request, f"program.{action}", program_id, ok=reply.result != "failed", detail=reply.detail
    )
    return reply


async def _command_timeout(request: Request[Any, Any, Any], program_id: str) -> float:
    """Long enough for the program's own stop timeout when ingest knows it, else short."""
    try:
        view = await gateway_state(request).ask("ingest", "program_get", {"id": program_id})
        spec = view.get("spec", {}) if isinstance(view, dict) else {}
        return (
            float(spec.get("stop_timeout_s", 2.0))
            + float(spec.get("start_secs", 1.0))
            + (COMMAND_MARGIN_S)
            if spec
            else UNKNOWN_TIMEOUT_S
        )
    except Exception:  # another host may own it: give it the short wait
        return UNKNOWN_TIMEOUT_S


async def _analyzer_series(
    request: Request[Any, Any, Any], name: str, program_id: str, hours: float
) -> dict[str, list[Any]] | None:
    query = {
        "name": name,
        "labels": {"program": program_id},
        "range_s": hours * 3600,
        "max_points": 300,
    }
    answer = await gateway_state(request).ask("analyzer", "metric_query", query, timeout=5.0)
    series = answer.get("series", []) if isinstance(answer, dict) else []
    points: dict[str, list[Any]] | None = series[0].get("points") if series else None
    return points if points and points.get("ts") else None


async def program_history(
    request: Request[Any, Any, Any], program_id: str, hours: float
) -> dict[str, Any]:
    """24 h chart data: the analyzer's metric history when it has the program's series
    (durable, rolled up), else the bounded in-memory ring kept by ingest."""
    try:
        cpu = await _analyzer_series(request, "program.cpu_percent", program_id, hours)
        rss = await _analyzer_series(request, "program.rss_mb", program_id, hours)
    except Exception:  # analyzer absent or older: fall back below
        cpu = rss = None
    if cpu is not None:
        rss_by_ts: dict[float, Any] = {}
        if rss is not None:
            rss_by_ts = dict(zip(rss["ts"], rss.get("max") or rss.get("avg") or [], strict=False))
        points = [
            {"ts": ts, "cpu_percent": value, "rss_mb": rss_by_ts.get(ts)}
            for ts, value in zip(cpu["ts"], cpu.get("avg") or [], strict=False)
        ]
        return {"id": program_id, "source": "analyzer", "points": points}
    answer = await ask_ingest(request, "program_history", {"id": program_id, "hours": hours})
    return {**answer, "source": "ingest"}
