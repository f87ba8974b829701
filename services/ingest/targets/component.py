"""The targets component of ingest: registry (vigil.toml + API), runners, publishing, RPC.

RPC methods (served as ``vigil.api.ingest.<method>``): ``targets_list``,
``targets_get`` {id}, ``targets_put`` {spec, create?}, ``targets_delete`` {id},
``targets_test`` {id}. Roles are enforced by the gateway (admin for changes).
Errors: ValueError → 400 with a message naming the field; an unknown id gives
a 400 whose text starts with ``unknown target``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.core.config.targets import TargetSpec
from services.core.logs import get_logger
from services.ingest.targets.result import CheckResult
from services.ingest.targets.runner import SECRET_HEADER_WORDS, TargetRunner
from services.ingest.targets.store import TargetStore

log = get_logger("ingest")


class _IdRequest(msgspec.Struct, kw_only=True):
    id: str


class _PutRequest(msgspec.Struct, kw_only=True):
    spec: dict[str, Any]
    create: bool = False


def _decode(data: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(data or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"request: {exc}") from None


class TargetsComponent:
    """Owns the target runners and ingest-targets.sqlite."""

    def __init__(self, settings: Settings, bus: Bus | None) -> None:
        self.settings = settings
        self.config = settings.ingest.targets
        self.bus = bus
        self.host = settings.host
        self.store = TargetStore(settings.data_path)
        self.runners: dict[str, TargetRunner] = {}
        self.published = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        stored, last = await asyncio.to_thread(self.store.open)
        self.store.start()
        for spec in self.config.items:
            if spec.id in self.runners:
                log.error("duplicate target id in vigil.toml; the first one wins", target=spec.id)
                continue
            self.runners[spec.id] = self._runner(spec, "config")
        for spec in stored:
            if spec.id in self.runners:
                log.warning("stored target shadowed by vigil.toml", target=spec.id)
                continue
            self.runners[spec.id] = self._runner(spec, "api")
        for target_id, result in last.items():
            if target_id in self.runners:
                self.runners[target_id].last = result
        if self.config.enabled:
            for runner in self.runners.values():
                runner.start()
        log.info("targets started", count=len(self.runners))

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.runners.values()), return_exceptions=True)
        await self.store.close()

    def _runner(self, spec: TargetSpec, source: str) -> TargetRunner:
        return TargetRunner(
            spec, source, self.config.secrets_file, max(2, self.config.history), self._report
        )

    # ------------------------------------------------------------ publishing

    async def _report(self, runner: TargetRunner, result: CheckResult) -> None:
        spec = runner.spec
        if runner.source == "api":
            self.store.record(spec.id, result)
        if self.bus is None:
            return
        ts = result.ts
        status = contracts.TargetStatus(
            target_id=spec.id,
            kind=spec.kind,
            status=result.status,
            response_ms=result.response_ms,
            detail=result.reason[:2000],
            host=self.host,
            ts=ts,
        )
        msg_id = f"target:{spec.id}:{ts:.6f}"
        await self.bus.publish(contracts.target_status(spec.id), status, msg_id=msg_id)
        if result.samples:
            batch = contracts.MetricBatch(
                host=self.host, group="target", ts=ts, samples=result.samples
            )
            await self.bus.publish(contracts.metric(self.host, "target"), batch, msg_id=msg_id)
        self.published += 1

    # ------------------------------------------------------------ registry

    def _get(self, target_id: str) -> TargetRunner:
        runner = self.runners.get(target_id)
        if runner is None:
            raise ValueError(f"unknown target {target_id!r}")
        return runner

    async def put(self, raw: dict[str, Any], *, create: bool) -> TargetRunner:
        """Add or replace an API target; ValueError names the bad field."""
        try:
            spec = msgspec.convert(raw, TargetSpec)
        except msgspec.ValidationError as exc:
            raise ValueError(f"spec: {exc}") from None
        secret_headers = [
            k for k in spec.headers if any(w in k.lower() for w in SECRET_HEADER_WORDS)
        ]
        if secret_headers:
            raise ValueError(
                f"headers.{secret_headers[0]}: looks like a secret; use secret_env or secret_key"
            )
        old = self.runners.get(spec.id)
        if old is not None and old.source == "config":
            raise ValueError(f"id: target {spec.id!r} is defined in vigil.toml; edit it there")
        if old is not None and create:
            raise ValueError(f"id: target {spec.id!r} already exists")
        await self.store.save_spec(spec, time.time())
        if old is not None:
            await old.stop()
        runner = self._runner(spec, "api")
        if old is not None:
            runner.last, runner.history = old.last, old.history
        self.runners[spec.id] = runner
        if self.config.enabled:
            runner.start()
        log.info("target saved", target=spec.id, kind=spec.kind)
        return runner

    async def delete(self, target_id: str) -> None:
        runner = self._get(target_id)
        if runner.source == "config":
            raise ValueError(f"id: target {target_id!r} is defined in vigil.toml; remove it there")
        await self.store.delete_spec(target_id)
        await runner.stop()
        self.runners.pop(target_id, None)
        log.info("target deleted", target=target_id)

    # ------------------------------------------------------------ RPC

    def endpoints(self) -> dict[str, Callable[[bytes], Awaitable[Any]]]:
        return {
            "targets_list": self._rpc_list,
            "targets_get": self._rpc_get,
            "targets_put": self._rpc_put,
            "targets_delete": self._rpc_delete,
            "targets_test": self._rpc_test,
        }

    async def _rpc_list(self, _data: bytes) -> dict[str, Any]:
        views = [r.view() for r in sorted(self.runners.values(), key=lambda r: r.spec.id)]
        counts: dict[str, int] = {}
        for view in views:
            counts[view["status"]] = counts.get(view["status"], 0) + 1
        return {"targets": views, "counts": counts}

    async def _rpc_get(self, data: bytes) -> dict[str, Any]:
        request = _decode(data, _IdRequest)
        return self._get(request.id).view(detail=True)

    async def _rpc_put(self, data: bytes) -> dict[str, Any]:
        request = _decode(data, _PutRequest)
        runner = await self.put(request.spec, create=request.create)
        return runner.view(detail=True)

    async def _rpc_delete(self, data: bytes) -> dict[str, Any]:
        request = _decode(data, _IdRequest)
        await self.delete(request.id)
        return {"deleted": request.id}

    async def _rpc_test(self, data: bytes) -> dict[str, Any]:
        request = _decode(data, _IdRequest)
        runner = self._get(request.id)
        await runner.run_once()
        return runner.view(detail=True)

    def health_detail(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for runner in self.runners.values():
            status = runner.last.status if runner.last else "unknown"
            states[status] = states.get(status, 0) + 1
        return {"targets": len(self.runners), "target_states": states}
