"""AI-model endpoints against a local OpenAI-compatible server: steps, score, reasons, usage."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from services.core.config.targets import ModelPrice, TargetSpec
from services.ingest.targets.model import ModelProbe
from tests.conftest import free_port
from tests.targets.servers import FakeOpenAI, serve

KEY = "sk-test-123"


def _spec(url: str, **extra: object) -> TargetSpec:
    return TargetSpec(id="llm", kind="model", url=f"{url}/v1", **extra)  # type: ignore[arg-type]


def _value(result, name, **labels):  # type: ignore[no-untyped-def]
    found = [
        s.value for s in result.samples if s.name == name and labels.items() <= s.labels.items()
    ]
    assert len(found) == 1, (name, result.samples)
    return found[0]


async def test_healthy_endpoint_scores_100_with_every_step() -> None:
    fake = FakeOpenAI(KEY)
    with serve(fake.routes()) as server:
        probe = ModelProbe(_spec(server.url, model="gpt-4o-mini", completion=True))
        result = await probe.check(KEY)
        auth = server.requests[0][2].get("Authorization")
    assert result.status == "up" and result.score == 100, result.lost
    assert [s.name for s in result.steps] == ["reach", "list_models", "completion"]
    assert all(s.ok for s in result.steps)
    assert fake.completions == 1
    assert auth == f"Bearer {KEY}"
    assert _value(result, "model.health_score") == 100
    assert _value(result, "model.latency_ms") > 0
    assert _value(result, "model.error_rate") == 0


async def test_wrong_key_loses_points_with_the_reason() -> None:
    with serve(FakeOpenAI(KEY).routes()) as server:
        result = await ModelProbe(_spec(server.url)).check("sk-wrong")
    assert result.score == 30 and result.status == "degraded"
    assert result.lost == [
        "-70: list models: credentials rejected (HTTP 401): Incorrect API key provided: sk-wr***"
    ]


@pytest.mark.parametrize(
    ("mode", "score", "needle"),
    [
        ("429", 70, "rate limited (HTTP 429)"),
        ("500", 40, "HTTP 500: The server had an error"),
        ("notjson", 50, "answer is not JSON"),
        ("badshape", 60, "expected {'object': 'list'"),
        ("empty", 80, "no models listed"),
    ],
)
async def test_bad_answers_of_the_models_endpoint(mode: str, score: int, needle: str) -> None:
    fake = FakeOpenAI(KEY)
    fake.models_mode = mode
    with serve(fake.routes()) as server:
        result = await ModelProbe(_spec(server.url)).check(KEY)
    assert result.score == score, result.lost
    assert needle in result.reason
    assert result.status == ("up" if score >= 80 else "degraded")


async def test_missing_model_and_completion_failures() -> None:
    fake = FakeOpenAI(KEY)
    with serve(fake.routes()) as server:
        missing = await ModelProbe(_spec(server.url, model="gpt-5")).check(KEY)
        fake.completion_mode = "429"
        limited = await ModelProbe(_spec(server.url, completion=True)).check(KEY)
        fake.completion_mode = "badshape"
        shapeless = await ModelProbe(_spec(server.url, completion=True)).check(KEY)
    assert missing.score == 80 and "gpt-5 is not among the 2 listed" in missing.reason
    assert limited.score == 70 and "completion: rate limited (HTTP 429)" in limited.reason
    assert shapeless.score == 70 and "lacks choices[0].message.content" in shapeless.reason
    assert [s.ok for s in limited.steps] == [True, True, False]


async def test_unreachable_scores_zero_and_error_rate_counts() -> None:
    probe = ModelProbe(_spec(f"http://127.0.0.1:{free_port()}", timeout_s=2))
    result = await probe.check(KEY)
    assert result.status == "down" and result.score == 0
    assert result.reason.startswith("API unreachable: connection refused")
    assert _value(result, "model.error_rate") == 1.0
    assert _value(result, "target.up") == 0


async def test_error_rate_over_recent_checks_costs_points() -> None:
    fake = FakeOpenAI(KEY)
    with serve(fake.routes()) as server:
        probe = ModelProbe(_spec(server.url))
        fake.models_mode = "500"
        await probe.check(KEY)
        fake.models_mode = "ok"
        result = await probe.check(KEY)
    assert _value(result, "model.error_rate") == 0.5
    assert result.score == 90 and "error rate 50% over the last 2 checks" in result.reason


async def test_usage_cost_and_budget_ratios(tmp_path: Path) -> None:
    now = dt.datetime.now()
    usage = tmp_path / "usage.jsonl"
    rows = [
        {"ts": now.isoformat(), "model": "gpt-4o", "prompt_tokens": 1_000_000,
         "completion_tokens": 100_000},  # 2.50 + 1.00 = 3.50
        {"ts": now.isoformat(), "model": "gpt-4o-mini", "prompt_tokens": 1_000_000,
         "completion_tokens": 1_000_000},  # 0.15 + 0.60 = 0.75
    ]  # fmt: skip
    usage.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prices = {
        "gpt-4o": ModelPrice(prompt_per_mtok=2.5, completion_per_mtok=10),
        "gpt-4o-mini": ModelPrice(prompt_per_mtok=0.15, completion_per_mtok=0.6),
    }
    fake = FakeOpenAI(KEY)
    with serve(fake.routes()) as server:
        spec = _spec(
            server.url,
            usage_file=str(usage),
            prices=prices,
            budget_daily_usd=5.0,
            budget_monthly_usd=100.0,
        )
        result = await ModelProbe(spec).check(KEY)
    assert _value(result, "model.cost_usd_today") == pytest.approx(4.25)
    assert _value(result, "model.budget_used_ratio", period="daily") == pytest.approx(0.85)
    assert _value(result, "model.budget_used_ratio", period="monthly") == pytest.approx(0.0425)
    assert _value(result, "model.tokens_today", kind="prompt") == 2_000_000
    assert _value(result, "model.tokens_today", kind="completion") == 1_100_000
    assert result.info["models_today"] == {"gpt-4o": 3.5, "gpt-4o-mini": 0.75}
