"""Settings of the alerts service: rules, receivers, fatigue controls."""

from __future__ import annotations

import msgspec


class AlertsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rules and notifications."""

    rules_dir: str = ""
    repeat_interval_s: float = 300.0
