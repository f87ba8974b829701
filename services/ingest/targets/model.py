"""AI-model endpoints (OpenAI-compatible): a multi-step connection test with a health score.

Steps: reach the API (``GET {base}/models``), list models (shape, the configured
model present), and, when enabled, one tiny chat completion (``max_tokens: 1``).
The score starts at 100; every lost point carries its reason. Usage and cost
come from the target's usage file (see usage.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from services.core.config.targets import TargetSpec
from services.ingest.targets.result import (
    CheckResult,
    Status,
    Step,
    describe_error,
    sample,
    tls_context,
)
from services.ingest.targets.usage import UsageTracker, budget_ratio

if TYPE_CHECKING:
    import httpx  # imported where used: ~5 MB (with rich/click) an idle ingest never needs

ERROR_WINDOW = 20
DEFAULT_SLOW_MS = 2000.0


def _api_error(response: httpx.Response) -> str:
    """The provider's own error message when the body carries one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return ""


def _http_problem(what: str, response: httpx.Response) -> tuple[int, str]:
    """Points lost and the reason for a non-2xx answer."""
    code = response.status_code
    message = _api_error(response)
    suffix = f": {message}" if message else ""
    if code in (401, 403):
        return 70, f"{what}: credentials rejected (HTTP {code}){suffix}"
    if code == 429:
        return 30, f"{what}: rate limited (HTTP 429){suffix}"
    if code == 404:
        return 60, f"{what}: not found (HTTP 404) - is the base URL right?{suffix}"
    return 60, f"{what}: HTTP {code}{suffix}"


class ModelProbe:
    """The connection test of one model target, with its error window and usage tracker."""

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self.outcomes: deque[bool] = deque(maxlen=ERROR_WINDOW)
        self.listed: list[str] = []
        self.usage = UsageTracker(spec.usage_file, spec.prices) if spec.usage_file else None

    async def check(self, secret: str) -> CheckResult:
        import httpx

        spec = self.spec
        lost: list[tuple[int, str]] = []
        steps: list[Step] = []
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        base = spec.url.rstrip("/")
        samples = []
        latency: float | None = None
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(spec.timeout_s),
            verify=tls_context(spec.verify_tls),
            headers=headers,
        ) as client:
            reached, latency = await self._list_models(client, base, steps, lost)
            if reached and spec.completion:
                await self._complete(client, base, steps, lost)
        if latency is not None:
            samples.append(sample("model.latency_ms", latency, spec.id))
            slow = spec.degraded_ms or DEFAULT_SLOW_MS
            if reached and latency > slow:
                lost.append((10, f"slow: models answered in {latency:.0f} ms > {slow:g} ms"))
        failed = any(not s.ok for s in steps)
        self.outcomes.append(failed)
        error_rate = sum(self.outcomes) / len(self.outcomes)
        if error_rate > 0.1 and not failed:
            lost.append(
                (10, f"error rate {error_rate:.0%} over the last {len(self.outcomes)} checks")
            )
        score = max(0, 100 - sum(points for points, _ in lost))
        status: Status = "up" if score >= 80 else "degraded" if reached and score >= 30 else "down"
        if not reached:
            score = 0
        samples += [
            sample("target.up", 0 if status == "down" else 1, spec.id),
            sample("model.health_score", score, spec.id),
            sample("model.error_rate", error_rate, spec.id),
        ]
        info: dict[str, Any] = {"error_rate": round(error_rate, 3)}
        if self.usage is not None:
            samples += await self._usage_samples(info)
        reason = "; ".join(text for _, text in lost)
        return CheckResult(
            status=status,
            reason=reason,
            response_ms=latency,
            samples=samples,
            steps=steps,
            score=score,
            lost=[f"-{points}: {text}" for points, text in lost],
            info=info,
        )

    async def _list_models(
        self, client: httpx.AsyncClient, base: str, steps: list[Step], lost: list[tuple[int, str]]
    ) -> tuple[bool, float | None]:
        import httpx

        started = time.perf_counter()
        try:
            response = await client.get(f"{base}/models")
        except (httpx.HTTPError, OSError) as exc:
            reason = describe_error(exc)
            steps.append(Step(name="reach", ok=False, detail=reason))
            lost.append((100, f"API unreachable: {reason}"))
            return False, None
        ms = round((time.perf_counter() - started) * 1000, 2)
        steps.append(Step(name="reach", ok=True, detail=f"HTTP {response.status_code}", ms=ms))
        if response.status_code >= 400:
            points, reason = _http_problem("list models", response)
            steps.append(Step(name="list_models", ok=False, detail=reason))
            lost.append((points, reason))
            return True, ms
        try:
            body = response.json()
        except ValueError:
            reason = "list models: answer is not JSON"
            steps.append(Step(name="list_models", ok=False, detail=reason))
            lost.append((50, reason))
            return True, ms
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
            reason = "list models: expected {'object': 'list', 'data': [{'id': ...}]}"
            steps.append(Step(name="list_models", ok=False, detail=reason))
            lost.append((40, reason))
            return True, ms
        ids = [str(m.get("id", "")) for m in data]
        self.listed = ids
        detail = f"{len(ids)} models"
        if not ids:
            lost.append((20, "list models: no models listed"))
        elif self.spec.model and self.spec.model not in ids:
            lost.append((20, f"list models: {self.spec.model} is not among the {len(ids)} listed"))
            detail += f"; {self.spec.model} missing"
        steps.append(Step(name="list_models", ok=True, detail=detail))
        return True, ms

    async def _complete(
        self, client: httpx.AsyncClient, base: str, steps: list[Step], lost: list[tuple[int, str]]
    ) -> None:
        import httpx

        payload = {
            "model": self.spec.model or (self.listed[0] if self.listed else ""),
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        }
        started = time.perf_counter()
        try:
            response = await client.post(f"{base}/chat/completions", json=payload)
        except (httpx.HTTPError, OSError) as exc:
            reason = f"completion: {describe_error(exc)}"
            steps.append(Step(name="completion", ok=False, detail=reason))
            lost.append((30, reason))
            return
        ms = round((time.perf_counter() - started) * 1000, 2)
        if response.status_code >= 400:
            points, reason = _http_problem("completion", response)
            steps.append(Step(name="completion", ok=False, detail=reason, ms=ms))
            lost.append((min(points, 30) if response.status_code == 429 else 40, reason))
            return
        try:
            body = response.json()
            message = body["choices"][0]["message"]
            if not isinstance(message, dict) or "content" not in message:
                raise TypeError("message without content")
        except (ValueError, KeyError, IndexError, TypeError):
            reason = "completion: answer lacks choices[0].message.content"
            steps.append(Step(name="completion", ok=False, detail=reason, ms=ms))
            lost.append((30, reason))
            return
        steps.append(Step(name="completion", ok=True, detail="answered", ms=ms))

    async def _usage_samples(self, info: dict[str, Any]) -> list[Any]:
        spec, usage = self.spec, self.usage
        assert usage is not None
        try:
            await asyncio.to_thread(usage.poll)
        except OSError as exc:
            info["usage_error"] = f"{spec.usage_file}: {exc.strerror or exc}"
        today, month = usage.today(), usage.month()
        out = [
            sample("model.cost_usd_today", round(today.cost_usd, 6), spec.id),
            sample("model.cost_usd_month", round(month.cost_usd, 6), spec.id),
            sample("model.tokens_today", today.prompt_tokens, spec.id, kind="prompt"),
            sample("model.tokens_today", today.completion_tokens, spec.id, kind="completion"),
            sample("model.requests_today", today.requests, spec.id),
            sample("model.request_errors_today", today.errors, spec.id),
            sample("model.request_error_rate_today", round(today.error_rate, 6), spec.id),
        ]
        for period, spent, budget in (
            ("daily", today.cost_usd, spec.budget_daily_usd),
            ("monthly", month.cost_usd, spec.budget_monthly_usd),
        ):
            ratio = budget_ratio(spent, budget)
            if ratio is not None:
                out.append(
                    sample("model.budget_used_ratio", round(ratio, 6), spec.id, period=period)
                )
                info[f"budget_{period}_ratio"] = round(ratio, 4)
        info.update(
            cost_usd_today=round(today.cost_usd, 6),
            cost_usd_month=round(month.cost_usd, 6),
            tokens_today=today.prompt_tokens + today.completion_tokens,
            unpriced_today=today.unpriced_requests,
            request_error_rate_today=round(today.error_rate, 4),
            usage_errors=usage.error_count,
            usage_last_errors=usage.errors[-5:],
            models_today={m: round(t.cost_usd, 6) for m, t in usage.models().items()},
        )
        return out
