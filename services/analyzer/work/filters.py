"""Validated query filters of the work analytics (shared by the RPC handlers and the gateway)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.analyzer.work.sessions import PROCESSES

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ALL = "all"


class FilterError(ValueError):
    """A bad filter parameter; the message names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"parameter {param!r}: {message}")
        self.param = param
        self.detail = message


@dataclass(frozen=True)
class WorkFilter:
    """Process (or all), session date range, workers, shipping-date range, as-of date."""

    process: str = ALL
    date_from: str | None = None
    date_to: str | None = None
    workers: tuple[str, ...] = ()
    ship_from: str | None = None
    ship_to: str | None = None
    as_of: str = field(default_factory=lambda: date.today().isoformat())

    @property
    def processes(self) -> tuple[str, ...]:
        return PROCESSES if self.process == ALL else (self.process,)

    @property
    def by_shipping(self) -> bool:
        return self.ship_from is not None or self.ship_to is not None

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"process": self.process, "as_of": self.as_of}
        for name in ("date_from", "date_to", "ship_from", "ship_to"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.workers:
            out["workers"] = ",".join(self.workers)
        return out


def parse_day(param: str, value: Any) -> str | None:
    """``YYYY-MM-DD`` or nothing; anything else is a FilterError naming ``param``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DAY.match(value.strip()):
        raise FilterError(param, f"expected a date YYYY-MM-DD, got {str(value)[:40]!r}")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise FilterError(param, f"not a calendar date: {value[:40]!r}") from None


def _workers(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    parts = value if isinstance(value, list) else str(value).split(",")
    return tuple(sorted({str(p).strip() for p in parts if str(p).strip()}))


def parse_filter(params: dict[str, Any], *, allow_all: bool = True) -> WorkFilter:
    """Validate query parameters (strings) into a WorkFilter; raises FilterError."""
    process = str(params.get("process") or ALL).strip()
    allowed = (*PROCESSES, ALL) if allow_all else PROCESSES
    if process not in allowed:
        raise FilterError("process", f"unknown process {process[:40]!r}; one of {allowed}")
    date_from = parse_day("date_from", params.get("date_from"))
    date_to = parse_day("date_to", params.get("date_to"))
    if date_from and date_to and date_from > date_to:
        raise FilterError("date_to", f"date range is inverted ({date_from} > {date_to})")
    ship_from = parse_day("ship_from", params.get("ship_from"))
    ship_to = parse_day("ship_to", params.get("ship_to"))
    if ship_from and ship_to and ship_from > ship_to:
        raise FilterError("ship_to", f"shipping-date range is inverted ({ship_from} > {ship_to})")
    as_of = parse_day("as_of", params.get("as_of")) or date.today().isoformat()
    return WorkFilter(
        process=process,
        date_from=date_from,
        date_to=date_to,
        workers=_workers(params.get("workers")),
        ship_from=ship_from,
        ship_to=ship_to,
        as_of=as_of,
    )
