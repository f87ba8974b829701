"""The audit log: who did what, when, from where — kept in gateway.sqlite and sent on NATS.

Route handlers in any area record their changes and commands with::

    from services.gateway.audit import audit
    await audit(request, "program.start", target=program_id, ok=True, detail="")

which stores a row (viewable and exportable by admins under Settings → Audit) and
publishes an AuditEvent on ``vigil.audit.<action>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select

from services.core import contracts
from services.core.bus import Bus
from services.core.logs import get_logger
from services.gateway.auth import tables as t
from services.gateway.auth.db import GatewayDb
from services.gateway.security import current_user

log = get_logger("gateway")


@dataclass(frozen=True)
class AuditQuery:
    """Filters and page of an audit listing."""

    actor: str = ""
    action: str = ""
    ok: bool | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    offset: int = 0


class AuditLog:
    """Writes audit rows on the database thread and publishes them as events."""

    def __init__(self, db: GatewayDb, bus: Bus | None) -> None:
        self.db = db
        self.bus = bus

    async def record(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        ok: bool = True,
        remote: str = "",
        detail: str = "",
    ) -> contracts.AuditEvent:
        event = contracts.AuditEvent(
            actor=actor[:100],
            action=action[:100],
            target=target[:300],
            ok=ok,
            remote=remote[:100],
            detail=detail[:2000],
            ts=time.time(),
        )
        values = {f: getattr(event, f) for f in event.__struct_fields__}
        await self.db.run(lambda e: _insert(e, values))
        if self.bus is not None:
            try:
                await self.bus.publish(contracts.audit(action), event, timeout=2.0)
            except Exception as exc:  # the row is stored; a broker hiccup must not fail the request
                log.warning("audit publish failed", action=action, error=type(exc).__name__)
        return event

    async def query(self, q: AuditQuery) -> tuple[list[dict[str, Any]], int]:
        return await self.db.run(lambda e: _query(e, q))


def _insert(engine: Engine, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(t.audit).values(**values))


def _query(engine: Engine, q: AuditQuery) -> tuple[list[dict[str, Any]], int]:
    conds: list[Any] = []
    if q.actor:
        conds.append(t.audit.c.actor == q.actor)
    if q.action:
        conds.append(t.audit.c.action.startswith(q.action))
    if q.ok is not None:
        conds.append(t.audit.c.ok == q.ok)
    if q.since is not None:
        conds.append(t.audit.c.ts >= q.since)
    if q.until is not None:
        conds.append(t.audit.c.ts < q.until)
    stmt = select(t.audit).where(*conds).order_by(t.audit.c.id.desc())
    count = select(func.count()).select_from(t.audit).where(*conds)
    with engine.begin() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = conn.execute(stmt.limit(q.limit).offset(q.offset)).mappings().all()
    return [dict(r) for r in rows], total


def remote_of(connection: Any) -> str:
    client = connection.scope.get("client")
    return str(client[0]) if client else ""


async def audit(
    request: Any, action: str, target: str = "", ok: bool = True, detail: str = ""
) -> None:
    """Record an action by the caller of ``request`` (never raises: auditing must not break it)."""
    state = request.app.state.vigil
    audit_log: AuditLog | None = getattr(state, "audit_log", None)
    if audit_log is None:
        return
    user = current_user(request)
    actor = user.name if user else "anonymous"
    try:
        await audit_log.record(
            actor, action, target=target, ok=ok, remote=remote_of(request), detail=detail
        )
    except Exception as exc:
        log.error("audit write failed", action=action, error=repr(exc)[:200])
