"""Small validators shared by the rule and receiver parsers; each failure names its key."""

from __future__ import annotations

import re
from typing import Any

import yaml

from services.alerts.condition import parse_duration

NAME = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")


class Bad(Exception):
    """A rule or receiver field is wrong; ``key`` says which (for its line number)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def key_lines(node: yaml.Node) -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
    return lines


def str_list(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    raise Bad(key, f"{key}: expected a list of names")


def str_map(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad(key, f"{key}: expected a mapping")
    return {str(k): str(v) for k, v in value.items()}


def duration_of(raw: dict[str, Any], key: str, default: float) -> float:
    if key not in raw or raw[key] is None:
        return default
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        raise Bad(key, f"{key}: {exc}") from None
