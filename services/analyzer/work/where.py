"""SQL WHERE clauses for a WorkFilter (test workers always excluded)."""

from __future__ import annotations

from typing import Any

from services.analyzer.work.filters import WorkFilter
from services.core.config.analyzer import AnalyzerSettings


def where(
    f: WorkFilter,
    settings: AnalyzerSettings,
    *,
    date_col: str = "date",
    dates: bool = True,
    shipping: bool = False,
    workers: bool = True,
) -> tuple[str, dict[str, Any]]:
    """(``WHERE …`` text, parameters) over columns process, worker, date and shipping_date."""
    params: dict[str, Any] = {}
    clauses = [_in("process", f.processes, "p", params)]
    if dates and f.date_from:
        clauses.append(f"{date_col} >= :date_from")
        params["date_from"] = f.date_from
    if dates and f.date_to:
        clauses.append(f"{date_col} <= :date_to")
        params["date_to"] = f.date_to
    if workers and f.workers:
        clauses.append(_in("worker", f.workers, "w", params))
    if settings.test_workers:
        clauses.append("NOT " + _in("worker", settings.test_workers, "tw", params))
    if shipping and f.by_shipping:
        # A shipping-date filter drops sessions without a shipping date.
        clauses.append("shipping_date != ''")
        if f.ship_from:
            clauses.append("shipping_date >= :ship_from")
            params["ship_from"] = f.ship_from
        if f.ship_to:
            clauses.append("shipping_date <= :ship_to")
            params["ship_to"] = f.ship_to
    return "WHERE " + " AND ".join(clauses), params


def _in(column: str, values: Any, prefix: str, params: dict[str, Any]) -> str:
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return f"{column} IN ({', '.join(names)})" if names else "0"
