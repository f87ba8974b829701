"""Rules: the condition parser and YAML loading with line-numbered errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.alerts.condition import ConditionError, parse_condition, parse_duration
from services.alerts.rules import load_rules, parse_rules_text
from services.alerts.windows import SeriesWindow


def test_condition_parses_reducer_window_matchers_and_threshold() -> None:
    cond = parse_condition(
        'p95(http.response_ms{target="api", method!="GET", zone=~"eu-.*"}[5m]) >= 3000'
    )
    assert cond.reducer == "p95"
    assert cond.window_s == 300
    assert cond.op == ">=" and cond.threshold == 3000
    sel = cond.selector
    assert sel.name == "http.response_ms"
    assert sel.matches("http.response_ms", {"target": "api", "method": "POST", "zone": "eu-1"})
    assert not sel.matches("http.response_ms", {"target": "api", "method": "GET", "zone": "eu-1"})
    assert not sel.matches("http.response_ms", {"target": "api", "method": "POST", "zone": "us-1"})
    assert not sel.matches("other", {"target": "api", "method": "POST", "zone": "eu-1"})


def test_bare_selector_means_last_sample() -> None:
    cond = parse_condition("memory.percent > 85")
    assert (cond.reducer, cond.window_s, cond.threshold) == ("last", 0.0, 85.0)
    assert cond.holds(86) and not cond.holds(85)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("median(x[5m]) > 1", 1, "unknown reducer 'median'"),
        ("avg(x[5q]) > 1", 7, "bad duration"),
        ("avg(x[5m]) >", 13, "expected a number"),
        ("avg(x[5m]) 3", 12, "expected a comparison"),
        ("avg(x{a~1}[5m]) > 1", 8, "unexpected character"),
        ("__import__('os').system('x') > 1", 1, "unknown reducer"),
        ("avg(x[5m]) > 1 extra", 16, "expected end of condition"),
    ],
)
def test_bad_conditions_name_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1.5h") == 5400
    assert parse_duration(10) == 10
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("five minutes")


def test_reducers_over_a_window() -> None:
    window = SeriesWindow(keep_s=100)
    for i, value in enumerate([1, 2, 3, 4, 100]):
        window.add(1000 + i * 10, value)
    now = 1040
    assert window.reduce("avg", 25, now) == pytest.approx((3 + 4 + 100) / 3)
    assert window.reduce("max", 100, now) == 100
    assert window.reduce("min", 100, now) == 1
    assert window.reduce("last", 100, now) == 100
    assert window.reduce("count", 100, now) == 5
    assert window.reduce("p50", 100, now) == 3
    assert window.reduce("rate", 100, now) == pytest.approx(99 / 40)
    assert window.reduce("avg", 5, now + 100) is None  # nothing inside the window any more


def test_invalid_rules_rejected_with_line_others_kept() -> None:
    text = """\
rules:
  - name: good
    condition: "avg(cpu.percent[5m]) > 80"
  - name: bad-reducer
    condition: "median(cpu.percent[5m]) > 80"
  - name: bad-duration
    condition: "avg(cpu.percent[5m]) > 80"
    for: 5 minutes
  - name: bad-kind
    kind: sometimes
  - name: good-event
    kind: event
    source: program_exited
    match: {expected: false}
"""
    result = parse_rules_text(text, "ops.yaml")
    assert [r.name for r in result.rules] == ["good", "good-event"]
    errors = [str(e) for e in result.errors]
    assert errors[0].startswith("ops.yaml:5: 'bad-reducer' condition: column 1: unknown reducer")
    assert errors[1].startswith("ops.yaml:8: 'bad-duration' for: bad duration '5 minutes'")
    assert errors[2].startswith("ops.yaml:10: 'bad-kind' kind: expected one of")


def test_yaml_syntax_error_names_the_line() -> None:
    result = parse_rules_text("rules:\n  - name: x\n    condition: [oops\n", "bad.yaml")
    assert not result.rules
    assert result.errors[0].file == "bad.yaml"
    assert result.errors[0].line >= 3
    assert "not valid YAML" in result.errors[0].reason


def test_duplicate_names_and_unknown_keys() -> None:
    text = (
        "- name: a\n  condition: x > 1\n- name: a\n  condition: x > 2\n- name: b\n  condtion: x\n"
    )
    result = parse_rules_text(text, "d.yaml")
    assert [r.name for r in result.rules] == ["a"]
    reasons = sorted(str(e) for e in result.errors)
    assert "d.yaml:3: 'a' duplicate name (first at line 1)" in reasons
    assert "d.yaml:6: 'b' unknown key 'condtion'" in reasons


def test_defaults_ship_enabled_and_valid() -> None:
    result = load_rules(None)
    assert result.errors == []
    names = {r.name for r in result.rules}
    assert {
        "cpu-high", "cpu-critical", "memory-high", "memory-critical", "response-slow",
        "error-rate-high", "consecutive-errors", "program-exited-unexpectedly",
        "model-budget-80", "fpy-low", "no-work-logs", "failed-logins", "rate-limited",
    } <= names  # fmt: skip
    assert all(r.enabled and r.origin == "default" for r in result.rules)


def test_user_file_overrides_and_disables_a_default(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "- name: cpu-high\n  condition: 'avg(cpu.percent[1m]) > 50'\n  enabled: false\n"
        "- name: extra\n  condition: 'x > 1'\n",
        encoding="utf-8",
    )
    result = load_rules(tmp_path)
    by_name = {r.name: r for r in result.rules}
    assert by_name["cpu-high"].enabled is False
    assert by_name["cpu-high"].origin == "user"
    assert "extra" in by_name


def test_receivers_validated() -> None:
    text = """\
receivers:
  - name: hook
    kind: webhook
    url: http://127.0.0.1:9/x
    secret: s3
  - name: broken
    kind: webhook
    url: ftp://nope
  - name: mail
    kind: email
    to: [ops@example.com]
    smtp_port: 2525
"""
    result = parse_rules_text(text, "r.yaml")
    assert [r.name for r in result.receivers] == ["hook", "mail"]
    assert str(result.errors[0]) == "r.yaml:8: 'broken' url: 'ftp://nope' is not an http(s) URL"


def test_unknown_receiver_is_reported_but_the_rule_kept(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "receivers:\n  - name: hook\n    url: http://127.0.0.1:9/\n"
        "rules:\n  - name: a\n    condition: 'x > 1'\n    notify: [hook, pager]\n",
        encoding="utf-8",
    )
    result = load_rules(tmp_path, with_defaults=False)
    assert [r.name for r in result.rules] == ["a"]
    assert [str(e).split(": ", 1)[1] for e in result.errors] == [
        "'a' no receiver named 'pager' (rule kept; deliveries to it fail)"
    ]
