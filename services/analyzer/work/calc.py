"""DESIGN §3 formulas over summed columns: KPIs, per-worker metrics and the overall score."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.core.config.analyzer import ScoreWeight

SUM_FIELDS = (
    "n", "pcs", "wt_sum", "wt_sq", "idle_sum", "errors", "had_err",
    "elig_n", "elig_err", "lat_n", "lat_sum", "defective", "insp_n",
)  # fmt: skip


@dataclass
class Sums:
    """Additive sums over a set of sessions (the columns of work_daily)."""

    n: int = 0
    pcs: int = 0
    wt_sum: float = 0.0
    wt_sq: float = 0.0
    idle_sum: float = 0.0
    errors: int = 0
    had_err: int = 0
    elig_n: int = 0
    elig_err: int = 0
    lat_n: int = 0
    lat_sum: float = 0.0
    defective: int = 0
    insp_n: int = 0
    first_date: str | None = None
    last_date: str | None = None

    @classmethod
    def from_row(cls, values: Sequence[Any], first: str | None, last: str | None) -> Sums:
        """From the 13 sums in DAILY_SUMS order and the first and last session dates."""
        out = cls(first_date=first, last_date=last)
        for name, value in zip(SUM_FIELDS, values, strict=True):
            setattr(out, name, value)
        return out

    def add(self, other: Sums) -> None:
        for name in SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        dates = [d for d in (self.first_date, other.first_date) if d]
        self.first_date = min(dates) if dates else None
        dates = [d for d in (self.last_date, other.last_date) if d]
        self.last_date = max(dates) if dates else None


def _div(a: float, b: float, empty: float = 0.0) -> float:
    return a / b if b else empty


def defect_rate(s: Sums) -> float:
    """Σ defective / Σ pcs whenever the set holds any inspection session, else 0."""
    return _div(s.defective, s.pcs) if s.insp_n else 0.0


def work_time_std(s: Sums) -> float:
    """Sample standard deviation from the sums (0 for fewer than two sessions)."""
    if s.n < 2:
        return 0.0
    variance = (s.wt_sq - s.wt_sum * s.wt_sum / s.n) / (s.n - 1)
    return math.sqrt(max(variance, 0.0))


def kpis(s: Sums) -> dict[str, Any]:
    """The KPIs of a filtered set of sessions."""
    days = 0
    if s.first_date and s.last_date:
        days = (date.fromisoformat(s.last_date) - date.fromisoformat(s.first_date)).days + 1
    weeks = days / 7 if days >= 7 else 1.0
    return {
        "total_trays": s.n,
        "total_pcs": s.pcs,
        "avg_pcs_per_tray": _div(s.pcs, s.n),
        "avg_tray_time": _div(s.wt_sum, s.n),
        "total_errors": s.errors,
        "weekly_avg_errors": s.errors / weeks,
        "avg_fpy": 1.0 - _div(s.elig_err, s.elig_n),
        "avg_latency": _div(s.lat_sum, s.lat_n),
        "avg_defect_rate": defect_rate(s),
        "days": days,
        "first_date": s.first_date,
        "last_date": s.last_date,
    }


def worker_metrics(worker: str, s: Sums) -> dict[str, Any]:
    """One row of the worker table (without the score and best time)."""
    return {
        "worker": worker,
        "session_count": s.n,
        "total_pcs": s.pcs,
        "avg_pcs_per_tray": _div(s.pcs, s.n),
        "avg_work_time": _div(s.wt_sum, s.n),
        "work_time_std": work_time_std(s),
        "avg_latency": _div(s.lat_sum, s.lat_n),
        "avg_idle_time": _div(s.idle_sum, s.n),
        "total_process_errors": s.errors,
        "first_pass_yield": 1.0 - _div(s.had_err, s.n),
        "defect_rate": defect_rate(s),
    }


def score(rows: Sequence[dict[str, Any]], weights: Iterable[ScoreWeight]) -> None:
    """Set ``overall_score`` = 100 × weighted mean of min–max normalised metrics, in place."""
    weights = list(weights)
    total = sum(w.weight for w in weights)
    spans = {}
    for w in weights:
        values = [float(r[w.metric]) for r in rows]
        spans[w.metric] = (min(values), max(values)) if values else (0.0, 0.0)
    for row in rows:
        acc = 0.0
        for w in weights:
            low, high = spans[w.metric]
            if high == low:
                norm = 0.5
            else:
                norm = (float(row[w.metric]) - low) / (high - low)
                if not w.higher_is_better:
                    norm = 1.0 - norm
            acc += w.weight * norm
        row["overall_score"] = 100.0 * acc / total if total else 50.0
