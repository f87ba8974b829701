"""Load alert rules and receivers from YAML with line-numbered errors; bad rules hide nothing else.

A rules file is either a list of rules or a mapping ``{rules: [...], receivers: [...]}``.
Each invalid rule becomes a RuleError (file, line, rule name, reason) and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.alerts.condition import (
    Condition,
    ConditionError,
    parse_condition,
    parse_selector,
)
from services.alerts.fields import NAME, Bad, duration_of, key_lines, str_list, str_map
from services.alerts.model import SEVERITIES, WEEKDAYS, ReceiverConfig, Rule, WorkingHours
from services.alerts.receiver_config import build_receiver
from services.core.partition import owner

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
KINDS = ("metric", "kpi", "event", "security", "absence", "consecutive")
EVENT_SOURCES = ("program_exited", "log", "work", "parse_error", "audit", "target")
_SECURITY: dict[str, dict[str, Any]] = {
    "failed_login": {"action": "login", "ok": False},
    "rate_limited": {"action": "rate_limited"},
}
_RULE_KEYS = {
    "name", "kind", "severity", "enabled", "labels", "summary", "notify", "for",
    "keep_firing_for", "clear", "repeat", "group_by", "escalate", "condition", "source",
    "event", "match", "regex", "threshold", "window", "by", "resolve_after", "metric", "expect",
    "working_hours", "count", "kpi", "below", "above", "process",
}  # fmt: skip


@dataclass(frozen=True)
class RuleError:
    """Why one rule or receiver was rejected, and where."""

    file: str
    line: int
    name: str
    reason: str

    def __str__(self) -> str:
        who = f" {self.name!r}" if self.name else ""
        return f"{self.file}:{self.line}:{who} {self.reason}"


@dataclass
class RuleSet:
    """Everything loaded from the rule files: valid rules, receivers and the errors."""

    rules: list[Rule] = field(default_factory=list)
    receivers: list[ReceiverConfig] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def _condition(raw: dict[str, Any], key: str = "condition") -> Condition:
    text = raw.get(key)
    if not isinstance(text, str):
        raise Bad(key, f'{key}: required, e.g. "avg(cpu.percent[5m]) > 80"')
    try:
        return parse_condition(text)
    except ConditionError as exc:
        raise Bad(key, f"{key}: {exc}") from None


def _working_hours(value: Any) -> WorkingHours | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Bad("working_hours", "working_hours: expected {days, start, end}")
    days = str_list(value.get("days", list(WEEKDAYS[:5])), "working_hours.days")
    try:
        day_set = frozenset(WEEKDAYS.index(d.lower()[:3]) for d in days)
    except ValueError:
        raise Bad("working_hours", "working_hours.days: use mon, tue, … sun") from None

    def minutes(text: Any, key: str) -> int:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text))
        if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
            raise Bad("working_hours", f"working_hours.{key}: expected HH:MM, got {text!r}")
        return int(match.group(1)) * 60 + int(match.group(2))

    return WorkingHours(
        day_set,
        minutes(value.get("start", "08:00"), "start"),
        minutes(value.get("end", "18:00"), "end"),
    )


def build_rule(raw: Any, file: str, line: int, origin: str) -> Rule:
    """Validate one rule mapping; raise Bad naming the offending key."""
    if not isinstance(raw, dict):
        raise Bad("", "a rule must be a mapping with at least name and kind/condition")
    unknown = sorted(set(map(str, raw)) - _RULE_KEYS)
    if unknown:
        raise Bad(unknown[0], f"unknown key {unknown[0]!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise Bad("name", "name: required, letters, digits, '-' or '_' (at most 80)")
    kind = raw.get("kind") or ("metric" if "condition" in raw else "")
    if kind not in KINDS:
        raise Bad("kind", f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise Bad("severity", f"severity: expected one of {', '.join(SEVERITIES)}")
    escalate = raw.get("escalate") or {}
    if not isinstance(escalate, dict):
        raise Bad("escalate", "escalate: expected {after: 15m, to: [receiver]}")
    clear = raw.get("clear")
    if clear is not None and not isinstance(clear, int | float):
        raise Bad("clear", "clear: expected a number")
    args: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "severity": severity,
        "enabled": bool(raw.get("enabled", True)),
        "labels": str_map(raw.get("labels"), "labels"),
        "summary": str(raw.get("summary", "")),
        "notify": str_list(raw.get("notify"), "notify"),
        "for_s": duration_of(raw, "for", 0.0),
        "keep_firing_s": duration_of(raw, "keep_firing_for", 0.0),
        "clear": float(clear) if clear is not None else None,
        "repeat_s": duration_of(raw, "repeat", 0.0) or None,
        "group_by": str_list(raw.get("group_by", ["rule"]), "group_by"),
        "escalate_after_s": duration_of(escalate, "after", 0.0),
        "escalate_to": str_list(escalate.get("to"), "escalate.to"),
        "window_s": duration_of(raw, "window", 300.0),
        "resolve_after_s": duration_of(raw, "resolve_after", 300.0),
        "by": str_list(raw.get("by"), "by"),
        "file": file,
        "line": line,
        "origin": origin,
    }
    if args["escalate_to"] and not args["escalate_after_s"]:
        raise Bad("escalate", "escalate: 'after' is required with 'to'")
    _kind_fields(kind, raw, args)
    return Rule(**args)


def _kind_fields(kind: str, raw: dict[str, Any], args: dict[str, Any]) -> None:
    if kind == "metric":
        args["condition"] = _condition(raw)
    elif kind == "kpi":
        if "condition" in raw:
            args["condition"] = _condition(raw)
            return
        kpi, below, above = raw.get("kpi"), raw.get("below"), raw.get("above")
        if not isinstance(kpi, str) or (below is None) == (above is None):
            raise Bad("kpi", "kpi: needs 'kpi: <name>' and one of 'below'/'above' (or a condition)")
        limit = below if below is not None else above
        if not isinstance(limit, int | float):
            raise Bad("below" if below is not None else "above", "expected a number")
        proc = raw.get("process")
        sel = f'kpi.{kpi}{{process="{proc}"}}' if proc else f"kpi.{kpi}"
        args["condition"] = parse_condition(
            f"last({sel}[1d]) {'<' if below is not None else '>'} {limit}"
        )
    elif kind in ("event", "security"):
        _event_fields(kind, raw, args)
    elif kind == "absence":
        source = raw.get("source", "work")
        if source not in ("work", "log", "metric"):
            raise Bad("source", "source: absence watches work, log or metric")
        args["source"] = source
        if source == "metric":
            try:
                args["selector"] = parse_selector(str(raw.get("metric", "")))
            except ConditionError as exc:
                raise Bad("metric", f"metric: {exc}") from None
        args["expect"] = str_list(raw.get("expect"), "expect")
        args["working_hours"] = _working_hours(raw.get("working_hours"))
        if not args["for_s"]:
            raise Bad("for", "for: absence rules need a duration (no data for how long?)")
    elif kind == "consecutive":
        source = raw.get("source", "target")
        if source not in ("target", "metric", "program_exited"):
            raise Bad("source", "source: consecutive watches target, metric or program_exited")
        args["source"] = source
        if source == "metric":
            args["condition"] = _condition(raw)
        count = raw.get("count", 5)
        if not isinstance(count, int) or count < 1:
            raise Bad("count", "count: expected a whole number ≥ 1")
        args["count"] = count


def _event_fields(kind: str, raw: dict[str, Any], args: dict[str, Any]) -> None:
    match = raw.get("match") or {}
    if kind == "security":
        on = raw.get("event", "failed_login")
        if on not in _SECURITY:
            raise Bad("event", f"event: expected one of {', '.join(_SECURITY)}")
        args["source"] = "audit"
        preset: dict[str, Any] = dict(_SECURITY[on])
        match = {**preset, **match} if isinstance(match, dict) else match
    else:
        source = raw.get("source")
        if source not in EVENT_SOURCES:
            raise Bad("source", f"source: expected one of {', '.join(EVENT_SOURCES)}")
        args["source"] = source
    if not isinstance(match, dict):
        raise Bad("match", "match: expected a mapping of field: value")
    args["match"] = dict(match)
    regex = raw.get("regex") or {}
    if not isinstance(regex, dict):
        raise Bad("regex", "regex: expected a mapping of field: pattern")
    compiled = {}
    for key, pattern in regex.items():
        try:
            compiled[str(key)] = re.compile(str(pattern))
        except re.error as exc:
            raise Bad("regex", f"regex.{key}: bad pattern: {exc}") from None
    args["regex"] = compiled
    threshold = raw.get("threshold", 1)
    if not isinstance(threshold, int) or threshold < 1:
        raise Bad("threshold", "threshold: expected a whole number ≥ 1")
    args["threshold"] = threshold


def parse_rules_text(text: str, file: str = "<rules>", origin: str = "user") -> RuleSet:
    """Parse one rules document; every problem becomes a RuleError with its line."""
    result = RuleSet()
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        result.errors.append(RuleError(file, line, "", f"not valid YAML: {reason}"))
        return result
    finally:
        loader.dispose()
    if data is None:
        return result
    rule_nodes: list[yaml.Node] = []
    recv_nodes: list[yaml.Node] = []
    rules_raw: Any = data
    recv_raw: Any = []
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        lines = key_lines(node)
        bad = sorted(set(map(str, data)) - {"rules", "receivers"})
        if bad:
            result.errors.append(RuleError(file, lines[bad[0]], "", f"unknown key {bad[0]!r}"))
        for key_node, value_node in node.value:
            if key_node.value == "rules" and isinstance(value_node, yaml.SequenceNode):
                rule_nodes = list(value_node.value)
            if key_node.value == "receivers" and isinstance(value_node, yaml.SequenceNode):
                recv_nodes = list(value_node.value)
        rules_raw, recv_raw = data.get("rules") or [], data.get("receivers") or []
    elif isinstance(node, yaml.SequenceNode):
        rule_nodes = list(node.value)
    if not isinstance(rules_raw, list) or not isinstance(recv_raw, list):
        result.errors.append(
            RuleError(file, 1, "", "expected a list of rules (or rules:/receivers:)")
        )
        return result
    for raw, item in zip(rules_raw, rule_nodes, strict=False):
        line = item.start_mark.line + 1
        try:
            result.rules.append(build_rule(raw, file, line, origin))
        except Bad as bad:
            at = key_lines(item).get(bad.key, line)
            result.errors.append(RuleError(file, at, _name_of(raw), bad.reason))
    for raw, item in zip(recv_raw, recv_nodes, strict=False):
        line = item.start_mark.line + 1
        try:
            result.receivers.append(build_receiver(raw, file, line))
        except Bad as bad:
            at = key_lines(item).get(bad.key, line)
            result.errors.append(RuleError(file, at, _name_of(raw), bad.reason))
    _check_duplicates(result)
    return result


def _name_of(raw: Any) -> str:
    return str(raw.get("name", "")) if isinstance(raw, dict) else ""


def _check_duplicates(result: RuleSet) -> None:
    seen: dict[str, Rule] = {}
    kept: list[Rule] = []
    for rule in result.rules:
        if rule.name in seen:
            first = seen[rule.name]
            result.errors.append(
                RuleError(
                    rule.file, rule.line, rule.name, f"duplicate name (first at line {first.line})"
                )
            )
            continue
        seen[rule.name] = rule
        kept.append(rule)
    result.rules = kept


def load_rules(rules_dir: Path | None, *, with_defaults: bool = True) -> RuleSet:
    """Defaults first, then every ``*.yaml``/``*.yml`` in ``rules_dir``; a user rule of the same
    name replaces the default (``enabled: false`` turns a default off)."""
    merged = RuleSet()
    by_name: dict[str, Rule] = {}
    sources: list[tuple[Path, str]] = [(DEFAULTS_FILE, "default")] if with_defaults else []
    if rules_dir is not None and rules_dir.is_dir():
        files = sorted([*rules_dir.glob("*.yaml"), *rules_dir.glob("*.yml")])
        sources += [(f, "user") for f in files]
    for path, origin in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            merged.errors.append(RuleError(str(path), 1, "", f"cannot read: {exc}"))
            continue
        part = parse_rules_text(text, str(path), origin)
        for rule in part.rules:
            by_name[rule.name] = rule
        merged.receivers.extend(part.receivers)
        merged.errors.extend(part.errors)
    merged.rules = list(by_name.values())
    known = {r.name for r in merged.receivers}
    for rule in merged.rules:
        for receiver in dict.fromkeys((*rule.notify, *rule.escalate_to)):
            if receiver not in known:
                reason = f"no receiver named {receiver!r} (rule kept; deliveries to it fail)"
                merged.errors.append(RuleError(rule.file, rule.line, rule.name, reason))
    return merged


def partition_key(rule: Rule) -> str:
    """What decides a rule's owner among several alerts instances (docs/DEPLOY.md §4).

    A rule over a metric is keyed by the metric's name, so a critical and a warning rule on
    the same metric (cpu-critical, cpu-high) share an instance and the critical one can
    inhibit the other (inhibition needs equal ``metric`` labels anyway); any other rule by
    its name.
    """
    if rule.condition is not None:
        return rule.condition.selector.name
    if rule.selector is not None:
        return rule.selector.name
    return rule.name


def owned_rules(rules: list[Rule], partition: int, partitions: int) -> list[Rule]:
    """The rules instance ``partition`` of ``partitions`` evaluates."""
    if partitions <= 1:
        return rules
    return [r for r in rules if owner(partition_key(r), partitions) == partition]
