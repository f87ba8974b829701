"""Metric naming and label rules: every violation is refused with its reason."""

from __future__ import annotations

import math

import pytest

from services.core.contracts import MetricSample
from services.ingest.collectors.validate import MetricRejected, check_sample, make_sample


def test_good_sample_passes() -> None:
    sample = make_sample("http.response_ms", 12, {"target": "api", "region": "kr"})
    assert sample == MetricSample(
        name="http.response_ms", value=12.0, labels={"target": "api", "region": "kr"}
    )


@pytest.mark.parametrize(
    ("name", "value", "labels", "reason"),
    [
        ("CPU", 1, {}, "lowercase"),
        ("1cpu", 1, {}, "lowercase"),
        ("cpu usage", 1, {}, "lowercase"),
        ("", 1, {}, "non-empty"),
        ("x" * 200, 1, {}, "longer than"),
        ("cpu", math.inf, {}, "not finite"),
        ("cpu", math.nan, {}, "not finite"),
        ("cpu", "12", {}, "not a number"),
        ("cpu", True, {}, "not a number"),
        ("cpu", 1, {f"k{i}": "v" for i in range(17)}, "at most 16"),
        ("cpu", 1, {"k" * 65: "v"}, "at most 64"),
        ("cpu", 1, {"bad-key": "v"}, "must match"),
        ("cpu", 1, {"k": "v" * 257}, "at most 256"),
        ("cpu", 1, {"k": 3}, "must be a string"),
        ("cpu", 1, ["k"], "labels must be"),
    ],
)
def test_bad_samples_are_rejected_with_reason(
    name: object, value: object, labels: object, reason: str
) -> None:
    with pytest.raises(MetricRejected, match=reason):
        make_sample(name, value, labels)


def test_check_sample_rejects_decoded_struct_with_bad_name() -> None:
    with pytest.raises(MetricRejected):
        check_sample(MetricSample(name="Bad Name", value=1.0))
    assert check_sample(MetricSample(name="ok.name", value=1.0)).name == "ok.name"
