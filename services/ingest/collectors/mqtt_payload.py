"""Turn one MQTT message into a metric sample by a topic mapping (pure; no I/O)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from services.core.config.metrics import MqttMapping
from services.core.contracts import MetricSample
from services.ingest.collectors.validate import MetricRejected, make_sample

_LEVEL = re.compile(r"\{(\d+)\}")
_NAME_BAD = re.compile(r"[^a-z0-9_.]")


def topic_matches(topic: str, pattern: str) -> bool:
    """MQTT filter matching: ``+`` is one level, a final ``#`` is any number of levels."""
    levels, wanted = topic.split("/"), pattern.split("/")
    for index, part in enumerate(wanted):
        if part == "#":
            return index == len(wanted) - 1
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
    return len(levels) == len(wanted)


def _fill(template: str, levels: list[str]) -> str:
    def level(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return levels[n - 1] if 1 <= n <= len(levels) else ""

    return _LEVEL.sub(level, template)


def _number_from_json(doc: Any, field: str, topic: str) -> Any:
    if not field:
        if isinstance(doc, int | float) and not isinstance(doc, bool):
            return doc
        raise MetricRejected(f"{topic}: payload is JSON but not a number (set a mapping field)")
    node = doc
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MetricRejected(f"{topic}: JSON payload has no field {field!r}")
        node = node[part]
    return node


def parse_value(payload: bytes, field: str, topic: str) -> float:
    """A plain number, or a JSON number / object field; anything else is rejected."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MetricRejected(f"{topic}: payload is not UTF-8 text") from None
    if not text:
        raise MetricRejected(f"{topic}: empty payload")
    if not field:
        try:
            return float(text)
        except ValueError:
            pass
    try:
        doc = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise MetricRejected(
            f"{topic}: payload {text[:60]!r} is neither a number nor JSON"
        ) from None
    value = _number_from_json(doc, field, topic)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricRejected(f"{topic}: field {field!r} is {value!r}, not a number")
    return float(value)


def to_sample(mapping: MqttMapping, topic: str, payload: bytes) -> MetricSample:
    """The sample for one message that matched ``mapping``; raises MetricRejected."""
    levels = topic.split("/")
    value = parse_value(payload, mapping.field, topic) * mapping.scale
    name = _NAME_BAD.sub("_", _fill(mapping.name, levels).lower())
    labels = {key: _fill(val, levels) for key, val in mapping.labels.items()}
    return make_sample(name, value, labels)
