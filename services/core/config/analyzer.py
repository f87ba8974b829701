"""Settings of the analyzer service: work analytics and metric history."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.core.config.metrics import HistorySettings
from services.core.config.partitions import check_partition


class ScoreWeight(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One metric of a worker's overall score: its weight and which direction is better."""

    metric: str
    higher_is_better: bool
    weight: float


def _w(metric: str, higher: bool, weight: float) -> ScoreWeight:
    return ScoreWeight(metric=metric, higher_is_better=higher, weight=weight)


def default_score_weights() -> dict[str, list[ScoreWeight]]:
    """DESIGN §3 default weights per process ("all" uses the transfer weights)."""
    return {
        "packing": [
            _w("avg_work_time", False, 1.0),
            _w("avg_latency", False, 1.0),
            _w("first_pass_yield", True, 0.7),
            _w("avg_pcs_per_tray", True, 1.0),
        ],
        "transfer": [
            _w("avg_work_time", False, 1.0),
            _w("avg_latency", False, 1.0),
            _w("first_pass_yield", True, 0.7),
            _w("work_time_std", False, 1.0),
        ],
        "inspection": [
            _w("avg_work_time", False, 1.0),
            _w("avg_latency", False, 0.8),
            _w("first_pass_yield", True, 1.2),
            _w("work_time_std", False, 0.7),
            _w("defect_rate", False, 1.5),
        ],
    }


class AnalyzerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """KPIs and history."""

    pcs_per_tray: int = 60
    test_workers: list[str] = []
    worker_aliases: dict[str, str] = {}
    # Per process (packing, transfer, inspection): the overall-score metrics and weights.
    score_weights: dict[str, list[ScoreWeight]] = msgspec.field(
        default_factory=default_score_weights
    )
    # KpiUpdate events per process are coalesced to at most one per this interval.
    kpi_update_interval_s: float = 0.25
    # Latencies above this are gaps between shifts, not latencies (DESIGN §3: 3600 s).
    latency_cap_s: float = 3600.0
    history: HistorySettings = HistorySettings()
    # Instances sharing the metric history by host (docs/DEPLOY.md §4); partition 0 also
    # runs the work analytics.
    partitions: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    # This instance's index, 0 .. partitions-1 (e.g. VIGIL_ANALYZER_PARTITION=1).
    partition: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __post_init__(self) -> None:
        check_partition(self.partition, self.partitions)
