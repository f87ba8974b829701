"""The ``details`` cell of a work event: a JSON object, or the QR form ``KEY=value|KEY=value``."""

from __future__ import annotations

from typing import Any

import msgspec

_json = msgspec.json.Decoder()


class DetailsError(ValueError):
    """``details`` starts with ``{`` but is not a JSON object."""


def parse_details(text: str) -> dict[str, Any]:
    """JSON when it starts with ``{``; QR form when it holds ``=``; otherwise no fields."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = _json.decode(stripped.encode("utf-8"))
        except msgspec.DecodeError as exc:
            raise DetailsError(f"details is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise DetailsError("details JSON is not an object")
        return value
    if "=" in stripped:
        fields: dict[str, Any] = {}
        for part in stripped.split("|"):
            key, sep, value = part.partition("=")
            if sep and key.strip():
                fields[key.strip()] = value.strip()
        return fields
    return {}
