"""Settings of the analyzer service: work analytics and metric history."""

from __future__ import annotations

import msgspec


class AnalyzerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """KPIs and history."""

    pcs_per_tray: int = 60
    test_workers: list[str] = []
    worker_aliases: dict[str, str] = {}
