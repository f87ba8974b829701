"""Timestamps of DESIGN §3: ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]`` normalised to ISO 8601."""

from __future__ import annotations

import datetime
import re

_LOCAL = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


def normalise_ts(text: str, *, allow_zone: bool = False) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS[.ffffff]`` (plus the zone when allowed and given), or None."""
    match = _LOCAL.fullmatch(text.strip())
    if match is None:
        return None
    date, hh, mm, ss, frac, zone = match.groups()
    if zone and not allow_zone:
        return None
    iso = f"{date}T{hh}:{mm}:{ss or '00'}"
    if frac:
        iso += "." + frac.ljust(6, "0")
    try:
        datetime.datetime.fromisoformat(iso)
    except ValueError:
        return None  # shaped right, but no such date or time (2024-02-30, 25:00)
    if zone:
        iso += "+00:00" if zone == "Z" else f"{zone[:3]}:{zone[-2:]}"
    return iso
