"""Token usage and cost from a JSON Lines file against budgets: hand-computed examples."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from services.core.config.targets import ModelPrice
from services.ingest.targets.usage import UsageTracker, budget_ratio, cost_usd

PRICES = {
    "gpt-4o-mini": ModelPrice(prompt_per_mtok=0.15, completion_per_mtok=0.60),
    "gpt-4o": ModelPrice(prompt_per_mtok=2.50, completion_per_mtok=10.00),
}


def test_cost_of_one_request_by_hand() -> None:
    # 1000 prompt tokens at $2.50/M = $0.0025; 500 completion tokens at $10/M = $0.005.
    assert cost_usd(PRICES, "gpt-4o", 1000, 500) == pytest.approx(0.0075)
    # 2,000,000 prompt at $0.15/M = $0.30; 1,000,000 completion at $0.60/M = $0.60.
    assert cost_usd(PRICES, "gpt-4o-mini", 2_000_000, 1_000_000) == pytest.approx(0.90)
    assert cost_usd(PRICES, "llama-3", 10, 10) is None
    wildcard = {**PRICES, "*": ModelPrice(prompt_per_mtok=1.0, completion_per_mtok=2.0)}
    assert cost_usd(wildcard, "llama-3", 1_000_000, 500_000) == pytest.approx(2.0)


def test_budget_ratio() -> None:
    assert budget_ratio(8.0, 10.0) == pytest.approx(0.8)
    assert budget_ratio(12.5, 10.0) == pytest.approx(1.25)
    assert budget_ratio(3.0, 0.0) is None


def _line(when: dt.datetime, model: str, prompt: int, completion: int) -> str:
    return json.dumps(
        {
            "ts": when.isoformat(),
            "model": model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
        }
    )


def test_daily_and_monthly_totals_read_incrementally(tmp_path: Path) -> None:
    now = dt.datetime.now().replace(microsecond=0)
    earlier_this_month = now.replace(day=1, hour=0, minute=0, second=1)
    last_month = earlier_this_month - dt.timedelta(days=2)
    path = tmp_path / "usage.jsonl"
    lines = [
        _line(now, "gpt-4o", 1000, 500),  # 0.0075
        _line(now, "gpt-4o-mini", 2_000_000, 1_000_000),  # 0.90
        # The OpenAI response shape: tokens under "usage", time as "created".
        json.dumps({"created": now.timestamp(), "model": "gpt-4o",
                    "usage": {"prompt_tokens": 4000, "completion_tokens": 1000}}),  # 0.02
        _line(last_month, "gpt-4o", 1_000_000, 0),  # 2.50, not this month
    ]  # fmt: skip
    if earlier_this_month.date() != now.date():
        lines.append(_line(earlier_this_month, "gpt-4o", 0, 100_000))  # 1.00 this month only
    path.write_text("\n".join(lines) + "\n")
    tracker = UsageTracker(str(path), PRICES)
    assert tracker.poll() == len(lines)
    today, month = tracker.today(now), tracker.month(now)
    assert today.cost_usd == pytest.approx(0.9275)
    assert today.prompt_tokens == 1000 + 2_000_000 + 4000
    assert today.completion_tokens == 500 + 1_000_000 + 1000
    expected_month = 0.9275 + (1.0 if earlier_this_month.date() != now.date() else 0.0)
    assert month.cost_usd == pytest.approx(expected_month)
    # 80 % of a $1.159375 daily budget is exactly today's spend.
    assert budget_ratio(today.cost_usd, 1.159375) == pytest.approx(0.8)
    # Appending costs only the new lines; a half-written line waits for its newline.
    with path.open("a") as handle:
        handle.write(_line(now, "gpt-4o", 0, 1000) + "\n")  # 0.01
        handle.write('{"ts": "' + now.isoformat() + '", "model": "gpt-4o", "prompt_')
    assert tracker.poll() == 1
    assert tracker.today(now).cost_usd == pytest.approx(0.9375)
    with path.open("a") as handle:
        handle.write('tokens": 1000000, "completion_tokens": 0}\n')  # 2.50
    assert tracker.poll() == 1
    assert tracker.today(now).cost_usd == pytest.approx(3.4375)
    assert tracker.models(now)["gpt-4o"].requests == 4


def test_bad_lines_are_reported_and_the_rest_counts(tmp_path: Path) -> None:
    now = dt.datetime.now()
    path = tmp_path / "usage.jsonl"
    path.write_text(
        "\n".join([
            _line(now, "gpt-4o", 1000, 0),
            "{not json",
            json.dumps({"ts": now.isoformat(), "prompt_tokens": 5}),
            json.dumps({"ts": now.isoformat(), "model": "gpt-4o", "prompt_tokens": -3}),
            json.dumps({"ts": "yesterday", "model": "gpt-4o"}),
            "",
            _line(now, "mystery-model", 100, 100),
            _line(now, "gpt-4o", 1000, 0),
        ]) + "\n"
    )  # fmt: skip
    tracker = UsageTracker(str(path), PRICES)
    assert tracker.poll() == 3
    assert tracker.error_count == 4
    assert "usage.jsonl line 2: " in tracker.errors[0]
    assert "line 3: model" in tracker.errors[1]
    assert "line 4: prompt_tokens" in tracker.errors[2]
    assert "line 5:" in tracker.errors[3]
    today = tracker.today()
    assert today.cost_usd == pytest.approx(0.005)
    assert today.requests == 3 and today.unpriced_requests == 1


def test_truncated_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    now = dt.datetime.now()
    path = tmp_path / "usage.jsonl"
    path.write_text(_line(now, "gpt-4o", 1000, 0) + "\n" + _line(now, "gpt-4o", 1000, 0) + "\n")
    tracker = UsageTracker(str(path), PRICES)
    assert tracker.poll() == 2
    path.write_text(_line(now, "gpt-4o", 2000, 0) + "\n")
    assert tracker.poll() == 1
    assert tracker.today().cost_usd == pytest.approx(0.010)
    assert UsageTracker(str(tmp_path / "missing.jsonl"), PRICES).poll() == 0


def test_failed_requests_count_toward_the_error_rate(tmp_path: Path) -> None:
    now = dt.datetime.now().isoformat()
    rows = [
        {"ts": now, "model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 5},
        {"ts": now, "model": "gpt-4o", "prompt_tokens": 10, "status": 429},
        {"ts": now, "model": "gpt-4o", "prompt_tokens": 0, "error": "context length exceeded"},
        {"ts": now, "model": "gpt-4o", "prompt_tokens": 10, "status": 200, "error": None},
        {"ts": now, "model": "gpt-4o-mini", "status": "failed"},
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tracker = UsageTracker(str(path), PRICES)
    assert tracker.poll() == 5
    today = tracker.today()
    assert (today.requests, today.errors) == (5, 3)
    assert today.error_rate == pytest.approx(0.6)
    assert tracker.models()["gpt-4o"].errors == 2
