"""One target's check loop: its own task, its own deadline, its schedule kept whatever happens."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from services.core.config.targets import TargetSpec
from services.core.logs import get_logger
from services.core.tasks import stop_tasks
from services.ingest.targets.database import DatabaseProbe
from services.ingest.targets.http import check_http
from services.ingest.targets.model import ModelProbe
from services.ingest.targets.n8n import check_n8n
from services.ingest.targets.result import CheckResult, sample
from services.ingest.targets.secrets import SecretMissing, resolve_secret

log = get_logger("ingest")
Report = Callable[["TargetRunner", CheckResult], Awaitable[None]]


class TargetRunner:
    """Checks one target on its interval; a slow or broken target delays nobody else."""

    def __init__(
        self, spec: TargetSpec, source: str, secrets_file: str, history: int, report: Report
    ) -> None:
        self.spec = spec
        self.source = source  # "config" (vigil.toml, read-only) or "api"
        self.secrets_file = secrets_file
        self.report = report
        self.history: deque[tuple[float, str, float | None]] = deque(maxlen=history)
        self.last: CheckResult | None = None
        self.checks = 0
        self._task: asyncio.Task[None] | None = None
        self._model = ModelProbe(spec) if spec.kind == "model" else None
        self._database = DatabaseProbe(spec) if spec.kind == "database" else None

    def start(self) -> None:
        if self.spec.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"target-{self.spec.id}")

    async def stop(self) -> None:
        if self._task is not None:
            # Repeated cancels: one swallowed by a publish's wait_for would leave the loop
            # asleep for a whole interval and this stop waiting on it (services/core/tasks.py).
            if not await stop_tasks([self._task]):
                log.warning("target check did not stop", target=self.spec.id)
            self._task = None
        if self._database is not None:
            await asyncio.to_thread(self._database.close)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self.run_once()
            due += self.spec.interval_s
            now = loop.time()
            if due < now:  # a check overran: skip the missed slots, keep the rhythm
                due += ((now - due) // self.spec.interval_s + 1) * self.spec.interval_s
            await asyncio.sleep(due - now)

    async def run_once(self) -> CheckResult:
        """Check now (the loop and "test now" both come here) and report the result."""
        started = time.time()
        result = await self._check()
        result.ts = started
        self.last = result
        self.checks += 1
        self.history.append((started, result.status, result.response_ms))
        try:
            await self.report(self, result)
        except Exception as exc:  # publishing trouble never stops the schedule
            log.warning("target report failed", target=self.spec.id, error=repr(exc)[:200])
        return result

    async def _check(self) -> CheckResult:
        spec = self.spec
        try:
            secret = resolve_secret(spec, self.secrets_file)
            return await asyncio.wait_for(self._dispatch(secret), timeout=spec.timeout_s)
        except SecretMissing as exc:
            return _down(spec.id, f"secret missing: {exc}")
        except TimeoutError:
            return _down(spec.id, f"timed out after {spec.timeout_s:g} s")
        except Exception as exc:
            log.exception("target check failed", target=spec.id)
            return _down(spec.id, f"check failed: {type(exc).__name__}: {exc}")

    async def _dispatch(self, secret: str) -> CheckResult:
        if self._model is not None:
            return await self._model.check(secret)
        if self._database is not None:
            return await self._database.check(secret)
        if self.spec.kind == "n8n":
            return await check_n8n(self.spec, secret)
        return await check_http(self.spec, secret)

    def sparkline(self) -> list[float | None]:
        return [ms for _, _, ms in self.history]

    def uptime_ratio(self) -> float | None:
        if not self.history:
            return None
        return sum(1 for _, status, _ in self.history if status != "down") / len(self.history)

    def view(self, *, detail: bool = False) -> dict[str, Any]:
        """What the API and UI show; secrets appear only as the names that hold them."""
        last = self.last
        out: dict[str, Any] = {
            "id": self.spec.id,
            "name": self.spec.label,
            "kind": self.spec.kind,
            "source": self.source,
            "enabled": self.spec.enabled,
            "interval_s": self.spec.interval_s,
            "status": last.status if last else "unknown",
            "last_check": last.ts if last else None,
            "last_error": last.reason if last and last.status != "up" else "",
            "reason": last.reason if last else "",
            "response_ms": last.response_ms if last else None,
            "score": last.score if last else None,
            "uptime": self.uptime_ratio(),
            "sparkline": self.sparkline()[-30:],
        }
        if detail:
            out["spec"] = redacted_spec(self.spec)
            out["history"] = [
                {"ts": ts, "status": status, "response_ms": ms} for ts, status, ms in self.history
            ]
            if last is not None:
                out["steps"] = [
                    {"name": s.name, "ok": s.ok, "detail": s.detail, "ms": s.ms} for s in last.steps
                ]
                out["lost"] = list(last.lost)
                out["info"] = last.info
                out["samples"] = [
                    {"name": s.name, "labels": s.labels, "value": s.value} for s in last.samples
                ]
        return out


SECRET_HEADER_WORDS = ("authorization", "api-key", "apikey", "token", "cookie", "secret")


def redacted_spec(spec: TargetSpec) -> dict[str, Any]:
    import msgspec

    data: dict[str, Any] = msgspec.to_builtins(spec)
    data["headers"] = {
        k: ("***" if any(w in k.lower() for w in SECRET_HEADER_WORDS) else v)
        for k, v in spec.headers.items()
    }
    return data


def _down(target: str, reason: str) -> CheckResult:
    return CheckResult(status="down", reason=reason, samples=[sample("target.up", 0, target)])
