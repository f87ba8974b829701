"""Request/reply API of the alerts service on ``vigil.api.alerts.<method>``."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select

from services.alerts.condition import parse_duration
from services.alerts.fatigue import Notice
from services.alerts.model import Silence
from services.alerts.rules import parse_rules_text
from services.alerts.store import (
    DELIVERY_T,
    SILENCE_T,
    TRANSITION_T,
    silence_from_row,
    silence_row,
)

if TYPE_CHECKING:
    from services.alerts.service import AlertsService

USER_RULES_FILE = "rules.yaml"
_SILENCE_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def _payload(data: bytes) -> dict[str, Any]:
    if not data.strip():
        return {}
    value = msgspec.json.decode(data)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _str(p: dict[str, Any], key: str, default: str = "") -> str:
    value = p.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string")
    return value


def _num(p: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = p.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{key}: expected a number")
    return value


class AlertsApi:
    """The handlers; each takes the raw request bytes and returns JSON-able data."""

    def __init__(self, service: AlertsService) -> None:
        self.svc = service

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        return {
            "active": self.active,
            "history": self.history,
            "rules": self.rules,
            "rules_source": self.rules_source,
            "rules_validate": self.rules_validate,
            "rules_put": self.rules_put,
            "silences": self.silences,
            "silence": self.silence,
            "unsilence": self.unsilence,
            "ack": self.ack,
            "resolve": self.resolve,
            "deliveries": self.deliveries,
            "receivers": self.receivers,
            "test_receiver": self.test_receiver,
        }

    # ------------------------------------------------------------ alerts

    async def active(self, data: bytes) -> list[dict[str, Any]]:
        p = _payload(data)
        severity, target = _str(p, "severity"), _str(p, "target")
        rows = []
        for alert in self.svc.engine.alerts.values():
            if severity and alert.severity not in severity.split(","):
                continue
            if target and target not in alert.labels.values():
                continue
            rows.append(alert.to_dict())
        return sorted(
            rows, key=lambda a: (-_rank(a["severity"]), -(a["fired_at"] or a["started_at"]))
        )

    async def history(self, data: bytes) -> list[dict[str, Any]]:
        p = _payload(data)
        limit = max(1, int(_num(p, "limit", 200) or 200))
        since, until = _num(p, "since"), _num(p, "until")
        filters = {k: _str(p, k) for k in ("fingerprint", "rule", "severity", "to_state", "by")}
        await self.svc.store.flush()
        table = TRANSITION_T

        def query(conn: Any) -> list[dict[str, Any]]:
            stmt = (
                select(table)
                .order_by(table.c.ts.desc(), table.c.id.desc())
                .limit(min(limit, 10_000))
            )
            for key, value in filters.items():
                if value:
                    stmt = stmt.where(table.c[key] == value)
            if since is not None:
                stmt = stmt.where(table.c.ts >= since)
            if until is not None:
                stmt = stmt.where(table.c.ts < until)
            return [{**r._mapping, "labels": json.loads(r.labels)} for r in conn.execute(stmt)]

        return await self.svc.store.read(query)

    async def ack(self, data: bytes) -> dict[str, Any]:
        p = _payload(data)
        fp, by = _str(p, "fingerprint"), _str(p, "by", "api")
        async with self.svc._lock:
            alert = self.svc.engine.acknowledge(fp, by)
            await self.svc._flush()
        if alert is None:
            raise ValueError(f"no pending or firing alert with fingerprint {fp!r}")
        return alert.to_dict()

    async def resolve(self, data: bytes) -> dict[str, Any]:
        p = _payload(data)
        fp, by = _str(p, "fingerprint"), _str(p, "by", "api")
        async with self.svc._lock:
            alert = self.svc.engine.resolve_by_hand(fp, by, _str(p, "note"))
            await self.svc._flush()
        if alert is None:
            raise ValueError(f"no active alert with fingerprint {fp!r}")
        return alert.to_dict()

    # ------------------------------------------------------------ rules

    async def rules(self, _data: bytes) -> dict[str, Any]:
        ruleset = self.svc.ruleset
        rules = []
        for rule in sorted(ruleset.rules, key=lambda r: r.name):
            rules.append(
                {
                    "name": rule.name, "kind": rule.kind, "severity": rule.severity,
                    "enabled": rule.enabled,
                    "condition": rule.condition.text if rule.condition else "",
                    "source": rule.source, "for_s": rule.for_s, "notify": list(rule.notify),
                    "summary": rule.summary, "file": os.path.basename(rule.file), "line": rule.line,
                    "origin": rule.origin, "labels": rule.labels,
                }
            )  # fmt: skip
        return {"rules": rules, "errors": [str(e) for e in ruleset.errors]}

    async def rules_source(self, _data: bytes) -> dict[str, Any]:
        path = self.svc.rules_dir / USER_RULES_FILE
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return {"file": USER_RULES_FILE, "text": text}

    async def rules_validate(self, data: bytes) -> dict[str, Any]:
        text = _str(_payload(data), "text")
        parsed = parse_rules_text(text, USER_RULES_FILE)
        return {
            "ok": not parsed.errors,
            "rules": len(parsed.rules),
            "errors": [str(e) for e in parsed.errors],
        }

    async def rules_put(self, data: bytes) -> dict[str, Any]:
        """Replace the user rules file; refused (nothing written) if any rule is invalid."""
        text = _str(_payload(data), "text")
        parsed = parse_rules_text(text, USER_RULES_FILE)
        if parsed.errors:
            raise ValueError("; ".join(str(e) for e in parsed.errors))
        path = self.svc.rules_dir / USER_RULES_FILE
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        ruleset = await self.svc.reload()
        return {"ok": True, "rules": len(ruleset.rules), "errors": [str(e) for e in ruleset.errors]}

    # ------------------------------------------------------------ silences

    async def silences(self, _data: bytes) -> list[dict[str, Any]]:
        await self.svc.store.flush()
        table = SILENCE_T
        now = self.svc.clock()

        def query(conn: Any) -> list[dict[str, Any]]:
            rows = conn.execute(select(table).order_by(table.c.created_at.desc()).limit(500))
            return [
                {**silence_from_row(r._mapping).to_dict(), "active": r.starts_at <= now < r.ends_at}
                for r in rows
            ]

        return await self.svc.store.read(query)

    async def silence(self, data: bytes) -> dict[str, Any]:
        p = _payload(data)
        matchers = p.get("matchers")
        if not isinstance(matchers, dict) or not matchers:
            raise ValueError("matchers: expected a non-empty object of label: value")
        for key, value in matchers.items():
            if isinstance(value, str) and value.startswith("~"):
                try:
                    re.compile(value[1:])
                except re.error as exc:
                    raise ValueError(f"matchers.{key}: bad regex {value[1:]!r}: {exc}") from None
        now = self.svc.clock()
        starts = _num(p, "starts_at") or now
        ends = _num(p, "ends_at")
        if ends is None:
            try:
                ends = starts + parse_duration(p.get("duration", "1h"))
            except ValueError as exc:
                raise ValueError(f"duration: {exc}") from None
        if ends <= starts:
            raise ValueError("ends_at: must be after starts_at")
        # The gateway names the silence when it sends it to every partition: one id everywhere.
        sid = _str(p, "id") or secrets.token_hex(6)
        if not _SILENCE_ID.fullmatch(sid):
            raise ValueError("id: expected 1-64 letters, digits, '-' or '_'")
        same = [s for s in self.svc.engine.silences if s.id == sid]
        if same:
            return same[0].to_dict()  # a repeated request: already there
        silence = Silence(
            id=sid, matchers={str(k): str(v) for k, v in matchers.items()},
            starts_at=starts, ends_at=ends, created_by=_str(p, "by", "api"),
            reason=_str(p, "reason"), created_at=now,
        )  # fmt: skip
        async with self.svc._lock:
            self.svc.engine.set_silences([*self.svc.engine.silences, silence])
            self.svc.store.put("silence", silence_row(silence))
            await self.svc._flush()
        return silence.to_dict()

    async def unsilence(self, data: bytes) -> dict[str, Any]:
        sid = _str(_payload(data), "id")
        now = self.svc.clock()
        async with self.svc._lock:
            found = [s for s in self.svc.engine.silences if s.id == sid]
            if not found:
                raise ValueError(f"no silence with id {sid!r}")
            found[0].ends_at = min(found[0].ends_at, now)
            self.svc.store.put("silence_end", (sid, found[0].ends_at))
            self.svc.engine.set_silences(self.svc.engine.silences)
            await self.svc._flush()
        return found[0].to_dict()

    # ------------------------------------------------------------ receivers

    async def deliveries(self, data: bytes) -> list[dict[str, Any]]:
        p = _payload(data)
        limit = max(1, int(_num(p, "limit", 200) or 200))
        receiver, status = _str(p, "receiver"), _str(p, "status")
        await self.svc.store.flush()
        table = DELIVERY_T

        def query(conn: Any) -> list[dict[str, Any]]:
            stmt = select(table).order_by(table.c.id.desc()).limit(min(limit, 10_000))
            if receiver:
                stmt = stmt.where(table.c.receiver == receiver)
            if status:
                stmt = stmt.where(table.c.status == status)
            return [
                {**r._mapping, "fingerprints": json.loads(r.fingerprints)}
                for r in conn.execute(stmt)
            ]

        return await self.svc.store.read(query)

    async def receivers(self, _data: bytes) -> list[dict[str, Any]]:
        out = []
        for receiver in self.svc.ruleset.receivers:
            row = asdict(receiver)
            row["secret"] = "***" if receiver.secret else ""
            row["password"] = "***" if receiver.password else ""
            out.append(row)
        return out

    async def test_receiver(self, data: bytes) -> dict[str, Any]:
        name = _str(_payload(data), "receiver")
        if name not in self.svc.deliverer.receivers:
            raise ValueError(f"no receiver named {name!r}")
        now = self.svc.clock()
        test_alert: dict[str, Any] = {
            "fingerprint": "test", "rule": "vigil-test", "severity": "info", "state": "firing",
            "value": None, "labels": {}, "started_at": now,
            "summary": "Test notification from Vigil",
        }  # fmt: skip
        self.svc.deliverer.submit(Notice(name, "test", "test", [test_alert], now))
        return {"ok": True, "queued": name}


def _rank(severity: str) -> int:
    from services.alerts.model import SEVERITY_RANK

    return SEVERITY_RANK.get(severity, 0)
