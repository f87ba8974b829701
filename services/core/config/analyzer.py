"""Settings of the analyzer service: work analytics and metric history."""

from __future__ import annotations

import msgspec

from services.core.config.metrics import HistorySettings


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
