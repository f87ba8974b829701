"""Rules every metric sample obeys, wherever it comes from (collectors, MQTT, REST, NATS).

- name: lowercase dotted, ``[a-z][a-z0-9_.]*``, at most 128 characters;
- value: a finite number;
- labels: at most 16; a key matches ``[a-zA-Z_][a-zA-Z0-9_]*`` and has at most 64
  characters; a value is a string of at most 256 characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from services.core.contracts import MetricSample

NAME_RE = re.compile(r"[a-z][a-z0-9_.]*\Z")
LABEL_KEY_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
MAX_NAME = 128
MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256


class MetricRejected(ValueError):
    """A sample broke a rule; the message names the field and the rule."""


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise MetricRejected("name: must be a non-empty string")
    if len(name) > MAX_NAME:
        raise MetricRejected(f"name {name[:40]!r}…: longer than {MAX_NAME} characters")
    if not NAME_RE.match(name):
        raise MetricRejected(f"name {name!r}: must match [a-z][a-z0-9_.]* (lowercase, dotted)")
    return name


def check_value(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricRejected(f"{name}: value {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise MetricRejected(f"{name}: value {value!r} is not finite")
    return number


def check_labels(name: str, labels: Any) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise MetricRejected(f"{name}: labels must be an object of strings")
    if len(labels) > MAX_LABELS:
        raise MetricRejected(f"{name}: {len(labels)} labels, at most {MAX_LABELS} allowed")
    for key, val in labels.items():
        if not isinstance(key, str) or len(key) > MAX_LABEL_KEY or not LABEL_KEY_RE.match(key):
            raise MetricRejected(
                f"{name}: label key {str(key)[:70]!r} must match [a-zA-Z_][a-zA-Z0-9_]* "
                f"and have at most {MAX_LABEL_KEY} characters"
            )
        if not isinstance(val, str):
            raise MetricRejected(f"{name}: label {key!r} must be a string")
        if len(val) > MAX_LABEL_VALUE:
            raise MetricRejected(
                f"{name}: label {key!r} is {len(val)} characters, at most {MAX_LABEL_VALUE}"
            )
    return dict(labels)


def check_sample(sample: MetricSample) -> MetricSample:
    """Return the sample when it obeys the rules, else raise MetricRejected."""
    check_name(sample.name)
    check_value(sample.name, sample.value)
    check_labels(sample.name, sample.labels)
    return sample


def make_sample(name: Any, value: Any, labels: Any = None) -> MetricSample:
    """Build a sample from untrusted parts (JSON), checking every rule."""
    checked = check_name(name)
    return MetricSample(
        name=checked, value=check_value(checked, value), labels=check_labels(checked, labels)
    )
