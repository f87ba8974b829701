"""Settings of the alerts service: rules, receivers, fatigue controls."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.core.config.partitions import check_partition


class AlertsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rules and notifications."""

    # Folder of *.yaml rule/receiver files, hot-reloaded; empty = <data_dir>/alerts/rules.
    rules_dir: str = ""
    # Ship the defaults of DESIGN §6 (services/alerts/defaults.yaml).
    default_rules: bool = True
    repeat_interval_s: float = 300.0
    group_wait_s: float = 5.0
    flap_window_s: float = 600.0
    flap_threshold: int = 6
    tick_s: float = 1.0
    # Receivers for rules that name none.
    default_notify: list[str] = []
    delivery_concurrency: int = 16
    # Instances sharing the rules (docs/DEPLOY.md §4): each evaluates the rules it owns.
    partitions: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    # This instance's index, 0 .. partitions-1 (e.g. VIGIL_ALERTS_PARTITION=1).
    partition: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __post_init__(self) -> None:
        check_partition(self.partition, self.partitions)
