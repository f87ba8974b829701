"""n8n through its public REST API v1: workflows, executions per workflow and status.

Both lists are paginated with ``limit`` and the ``nextCursor`` of each answer
(``cursor=`` on the next request). Executions are the newest ``page_size *
max_pages``; each is counted by workflow and status (success, error, crashed,
waiting, running, ...), with durations and the last failed execution.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from services.core.config.targets import TargetSpec
from services.ingest.targets.result import CheckResult, Status, describe_error, sample, tls_context

if TYPE_CHECKING:
    import httpx  # imported where used: ~5 MB (with rich/click) an idle ingest never needs

FAILED = {"error", "crashed"}


class N8nError(Exception):
    """The API answered in a way we cannot use; the message is the exact reason."""


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def _pages(
    client: httpx.AsyncClient, path: str, spec: TargetSpec, params: dict[str, str]
) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list, up to ``max_pages`` pages."""
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(spec.max_pages):
        query = {**params, "limit": str(spec.page_size)}
        if cursor:
            query["cursor"] = cursor
        response = await client.get(path, params=query)
        if response.status_code in (401, 403):
            raise N8nError(f"GET {path}: API key rejected (HTTP {response.status_code})")
        if response.status_code >= 400:
            raise N8nError(f"GET {path}: HTTP {response.status_code} {response.reason_phrase}")
        try:
            body = response.json()
        except ValueError:
            raise N8nError(f"GET {path}: answer is not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise N8nError(f"GET {path}: expected {{'data': [...], 'nextCursor': ...}}")
        items.extend(data)
        cursor = body.get("nextCursor") or ""
        if not isinstance(cursor, str) or not cursor:
            break
    return items


def summarise(
    workflows: list[dict[str, Any]], executions: list[dict[str, Any]], target: str
) -> tuple[list[Any], dict[str, Any]]:
    """Metric samples and a summary from the two lists."""
    names = {str(w.get("id")): str(w.get("name") or w.get("id")) for w in workflows}
    counts: Counter[tuple[str, str]] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    last_failed: dict[str, Any] | None = None
    newest: dict[str, tuple[float, str]] = {}
    for execution in executions:
        workflow = names.get(str(execution.get("workflowId")), str(execution.get("workflowId")))
        status = str(execution.get("status") or "unknown")
        counts[(workflow, status)] += 1
        started = _parse_time(execution.get("startedAt"))
        stopped = _parse_time(execution.get("stoppedAt"))
        if started is not None and stopped is not None and stopped >= started:
            durations[workflow].append((stopped - started) * 1000)
        if started is not None and (workflow not in newest or started > newest[workflow][0]):
            newest[workflow] = (started, status)
        if status in FAILED:
            when = started or 0.0
            if last_failed is None or when > last_failed["started"]:
                last_failed = {
                    "id": str(execution.get("id")),
                    "workflow": workflow,
                    "status": status,
                    "started": when,
                    "started_at": execution.get("startedAt"),
                }
    samples = [sample("n8n.workflows", len(workflows), target)]
    samples.append(
        sample("n8n.workflows_active", sum(1 for w in workflows if w.get("active")), target)
    )
    for (workflow, status), count in sorted(counts.items()):
        samples.append(sample("n8n.executions", count, target, workflow=workflow, status=status))
    failures: Counter[str] = Counter()
    for (workflow, status), count in counts.items():
        if status in FAILED:
            failures[workflow] += count
    for workflow in sorted({w for w, _ in counts}):
        samples.append(sample("n8n.failures", failures[workflow], target, workflow=workflow))
        if durations[workflow]:
            avg = sum(durations[workflow]) / len(durations[workflow])
            samples.append(sample("n8n.duration_ms_avg", round(avg, 1), target, workflow=workflow))
            top = max(durations[workflow])
            samples.append(sample("n8n.duration_ms_max", round(top, 1), target, workflow=workflow))
    by_status: Counter[str] = Counter()
    for (_, status), count in counts.items():
        by_status[status] += count
    info = {
        "workflows": len(workflows),
        "executions": len(executions),
        "by_status": dict(by_status),
        "failures": sum(failures.values()),
        "last_failed": last_failed,
        "failing": sorted(w for w, (_, status) in newest.items() if status in FAILED),
    }
    return samples, info


async def check_n8n(spec: TargetSpec, secret: str) -> CheckResult:
    """Fetch workflows and executions; down when the API cannot be used, with the reason."""
    import httpx

    headers = {"X-N8N-API-KEY": secret, "Accept": "application/json"}
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            base_url=spec.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(spec.timeout_s),
            verify=tls_context(spec.verify_tls),
        ) as client:
            workflows = await _pages(client, "/api/v1/workflows", spec, {})
            executions = await _pages(client, "/api/v1/executions", spec, {"includeData": "false"})
    except N8nError as exc:
        return CheckResult(
            status="down", reason=str(exc), samples=[sample("target.up", 0, spec.id)]
        )
    except (httpx.HTTPError, OSError) as exc:
        return CheckResult(
            status="down", reason=describe_error(exc), samples=[sample("target.up", 0, spec.id)]
        )
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    samples, info = summarise(workflows, executions, spec.id)
    samples.insert(0, sample("target.up", 1, spec.id))
    samples.append(sample("n8n.api_ms", elapsed, spec.id))
    status: Status = "up"
    reason = ""
    if info["failing"]:
        status = "degraded"
        reason = "last execution failed: " + ", ".join(info["failing"])
    elif spec.degraded_ms and elapsed > spec.degraded_ms:
        status, reason = "degraded", f"slow: API answered in {elapsed:.0f} ms"
    return CheckResult(
        status=status, reason=reason, response_ms=elapsed, samples=samples, info=info
    )
