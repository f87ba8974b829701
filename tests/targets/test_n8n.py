"""n8n checks against a local server speaking n8n's public API v1 with cursors."""

from __future__ import annotations

from services.core.config.targets import TargetSpec
from services.ingest.targets.n8n import check_n8n
from tests.conftest import free_port
from tests.targets.servers import FakeN8n, n8n_execution, serve

WORKFLOWS = [
    {"id": "wf1", "name": "Order sync", "active": True, "createdAt": "2026-01-01T00:00:00.000Z",
     "updatedAt": "2026-01-02T00:00:00.000Z", "tags": []},
    {"id": "wf2", "name": "Daily report", "active": True, "createdAt": "2026-01-01T00:00:00.000Z",
     "updatedAt": "2026-01-02T00:00:00.000Z", "tags": []},
    {"id": "wf3", "name": "Old import", "active": False, "createdAt": "2026-01-01T00:00:00.000Z",
     "updatedAt": "2026-01-02T00:00:00.000Z", "tags": []},
]  # fmt: skip


def _executions() -> list[dict]:  # type: ignore[type-arg]
    # Newest first, as n8n lists them. 7 executions across 2 workflows.
    return [
        n8n_execution(107, "wf1", "success", "2026-11-21T10:06:00Z", 1500),
        n8n_execution(106, "wf2", "error", "2026-11-21T10:05:00Z", 300),
        n8n_execution(105, "wf1", "running", "2026-11-21T10:04:00Z", 0),
        n8n_execution(104, "wf1", "crashed", "2026-11-21T10:03:00Z", 900),
        n8n_execution(103, "wf2", "success", "2026-11-21T10:02:00Z", 700),
        n8n_execution(102, "wf1", "waiting", "2026-11-21T10:01:00Z", 0),
        n8n_execution(101, "wf1", "success", "2026-11-21T10:00:00Z", 2500),
    ]


def _samples(result, name):  # type: ignore[no-untyped-def]
    return {
        tuple(sorted((k, v) for k, v in s.labels.items() if k != "target")): s.value
        for s in result.samples
        if s.name == name
    }


async def test_counts_per_workflow_and_status_through_every_page() -> None:
    fake = FakeN8n(WORKFLOWS, _executions())
    with serve(fake.routes()) as server:
        spec = TargetSpec(id="n8n", kind="n8n", url=server.url, page_size=2)
        result = await check_n8n(spec, "n8n-key")
        paths = [path for _, path, _ in server.requests]
    # 3 workflows in pages of 2 = 2 pages; 7 executions = 4 pages, each after its cursor.
    assert fake.pages_served == 6
    assert sum("cursor=" in p for p in paths) == 1 + 3
    assert result.info["executions"] == 7 and result.info["workflows"] == 3
    executions = _samples(result, "n8n.executions")
    assert executions == {
        (("status", "success"), ("workflow", "Order sync")): 2,
        (("status", "running"), ("workflow", "Order sync")): 1,
        (("status", "crashed"), ("workflow", "Order sync")): 1,
        (("status", "waiting"), ("workflow", "Order sync")): 1,
        (("status", "error"), ("workflow", "Daily report")): 1,
        (("status", "success"), ("workflow", "Daily report")): 1,
    }
    assert _samples(result, "n8n.failures") == {
        (("workflow", "Order sync"),): 1,
        (("workflow", "Daily report"),): 1,
    }
    # Finished executions only: (1500 + 900 + 2500) / 3 and (300 + 700) / 2.
    assert _samples(result, "n8n.duration_ms_avg") == {
        (("workflow", "Order sync"),): 1633.3,
        (("workflow", "Daily report"),): 500.0,
    }
    assert _samples(result, "n8n.workflows_active") == {(): 2}
    last = result.info["last_failed"]
    assert last["id"] == "106" and last["workflow"] == "Daily report" and last["status"] == "error"
    # Daily report's newest execution failed: the target is degraded and says which.
    assert result.status == "degraded"
    assert result.reason == "last execution failed: Daily report"


async def test_max_pages_bounds_the_walk() -> None:
    fake = FakeN8n(WORKFLOWS, _executions())
    with serve(fake.routes()) as server:
        spec = TargetSpec(id="n8n", kind="n8n", url=server.url, page_size=2, max_pages=1)
        result = await check_n8n(spec, "n8n-key")
    assert result.info["executions"] == 2 and result.info["workflows"] == 2


async def test_all_green_is_up() -> None:
    runs = [n8n_execution(1, "wf1", "success", "2026-11-21T10:00:00Z", 10)]
    with serve(FakeN8n(WORKFLOWS, runs).routes()) as server:
        result = await check_n8n(TargetSpec(id="n", kind="n8n", url=server.url), "n8n-key")
    assert result.status == "up" and result.reason == ""


async def test_wrong_key_bad_answers_and_unreachable_are_down_with_reasons() -> None:
    fake = FakeN8n(WORKFLOWS, _executions())
    with serve(fake.routes()) as server:
        spec = TargetSpec(id="n", kind="n8n", url=server.url)
        wrong = await check_n8n(spec, "nope")
        fake.mode = "notjson"
        html = await check_n8n(spec, "n8n-key")
        fake.mode = "badshape"
        shape = await check_n8n(spec, "n8n-key")
    assert wrong.status == "down"
    assert wrong.reason == "GET /api/v1/workflows: API key rejected (HTTP 401)"
    assert html.status == "down" and html.reason == "GET /api/v1/workflows: answer is not JSON"
    assert shape.status == "down" and "expected {'data': [...]" in shape.reason
    gone = await check_n8n(
        TargetSpec(id="n", kind="n8n", url=f"http://127.0.0.1:{free_port()}", timeout_s=2), "k"
    )
    assert gone.status == "down" and gone.reason.startswith("connection refused")
