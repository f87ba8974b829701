"""Export of range-query results as CSV (one row per series and point) or JSON."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec

from services.analyzer.history.query import COLUMNS


def _label_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def to_csv(series: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["host", "name", "labels", *COLUMNS])
    for one in series:
        points = one["points"]
        prefix = [one["host"], one["name"], _label_text(one["labels"])]
        for i in range(len(points["ts"])):
            writer.writerow(
                prefix + ["" if points[c][i] is None else points[c][i] for c in COLUMNS]
            )
    return buffer.getvalue()


def to_json(series: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return msgspec.json.encode({**meta, "series": series}).decode()


def render(fmt: str, series: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, str]:
    """{"content_type", "filename", "body"} for ``fmt`` csv or json."""
    if fmt == "csv":
        return {"content_type": "text/csv", "filename": "metrics.csv", "body": to_csv(series)}
    if fmt == "json":
        return {
            "content_type": "application/json",
            "filename": "metrics.json",
            "body": to_json(series, meta),
        }
    raise ValueError(f"format: expected csv or json, got {fmt!r}")
