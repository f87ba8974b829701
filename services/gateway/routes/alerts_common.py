"""Helpers shared by the alerts REST and UI routes: asking the alerts service, history export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from services.core.bus import RpcError
from services.gateway.security import current_user, requires_role
from services.gateway.state import gateway_state

VIEWER = [requires_role("viewer")]
OPERATOR = [requires_role("operator")]
ADMIN = [requires_role("admin")]
HISTORY_COLUMNS = ("ts", "rule", "severity", "fingerprint", "from_state", "to_state", "value")


async def ask_alerts(request: Request[Any, Any, Any], method: str, payload: Any = None) -> Any:
    """Ask the alerts service; its 400s become 400s, an absent service a 503 (never a trace)."""
    try:
        return await gateway_state(request).ask("alerts", method, payload or {}, timeout=5.0)
    except RpcError as exc:
        status = 400 if exc.code == 400 else 502
        raise HTTPException(status_code=status, detail=exc.description) from None
    except Exception as exc:  # no responders, timeout, no connection
        raise HTTPException(
            status_code=503, detail=f"alerts service unavailable ({type(exc).__name__})"
        ) from None


def who(request: Request[Any, Any, Any]) -> str:
    user = current_user(request)
    return user.name if user else "anonymous"


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"body: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPException(status_code=400, detail="body: expected a JSON object")
    return value


def history_query(
    rule: str | None,
    severity: str | None,
    state: str | None,
    fingerprint: str | None,
    since: float | None,
    until: float | None,
    limit: int,
) -> dict[str, Any]:
    query: dict[str, Any] = {"limit": max(1, min(limit, 10_000))}
    for key, value in (
        ("rule", rule),
        ("severity", severity),
        ("to_state", state),
        ("fingerprint", fingerprint),
        ("since", since),
        ("until", until),
    ):
        if value not in (None, ""):
            query[key] = value
    return query


def history_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*HISTORY_COLUMNS, "labels", "by", "note", "summary"])
    for row in rows:
        labels = ";".join(f"{k}={v}" for k, v in sorted(row.get("labels", {}).items()))
        writer.writerow(
            [*(row.get(c) for c in HISTORY_COLUMNS), labels, row["by"], row["note"], row["summary"]]
        )
    return out.getvalue()
