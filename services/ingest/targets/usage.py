"""Token usage and cost from a watched JSON Lines file, against daily and monthly budgets.

Each line is one request: ``{"ts": ..., "model": ..., "prompt_tokens": n,
"completion_tokens": m}`` (or the tokens inside ``"usage"``, as an OpenAI response
carries them; ``created`` also counts as the time). ``ts`` is ISO 8601 or Unix
seconds; without one, the time it was read. Days and months are local time.
A request failed when it has a truthy ``error`` or a ``status`` of 400 or more (or
"error"/"failed"); failures count toward the request error rate.
The file is read incrementally from the last offset; a bad line is reported with
its line number and the rest still counts.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import msgspec

from services.core.config.targets import ModelPrice

MAX_ERRORS_KEPT = 20
KEEP_DAYS = 62


def cost_usd(
    prices: dict[str, ModelPrice], model: str, prompt: int, completion: int
) -> float | None:
    """Cost of one request; None when neither the model nor ``"*"`` has a price."""
    price = prices.get(model) or prices.get("*")
    if price is None:
        return None
    return (prompt * price.prompt_per_mtok + completion * price.completion_per_mtok) / 1_000_000


def budget_ratio(spent: float, budget: float) -> float | None:
    """Share of the budget used (0.8 = 80 %); None without a budget."""
    return spent / budget if budget > 0 else None


@dataclass
class Totals:
    """Tokens and cost of one day or month."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_requests: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def add(self, prompt: int, completion: int, cost: float | None, failed: bool = False) -> None:
        self.requests += 1
        self.errors += int(failed)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        if cost is None:
            self.unpriced_requests += 1
        else:
            self.cost_usd += cost


def _when(record: dict[str, Any]) -> dt.datetime:
    raw = record.get("ts", record.get("timestamp", record.get("created")))
    if raw is None:
        return dt.datetime.now()
    if isinstance(raw, bool):
        raise ValueError("ts: expected ISO 8601 text or Unix seconds")
    if isinstance(raw, int | float):
        return dt.datetime.fromtimestamp(float(raw))
    if isinstance(raw, str):
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # An explicit zone is converted to local time; no zone means local already.
        return parsed.astimezone().replace(tzinfo=None) if parsed.tzinfo else parsed
    raise ValueError("ts: expected ISO 8601 text or Unix seconds")


def _bump(
    table: dict[Any, Totals],
    key: Any,
    prompt: int,
    completion: int,
    cost: float | None,
    failed: bool,
) -> None:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    totals.add(prompt, completion, cost, failed)


def _failed(record: dict[str, Any]) -> bool:
    status = record.get("status")
    if isinstance(status, int | float) and not isinstance(status, bool):
        return status >= 400
    if isinstance(status, str) and status.lower() in ("error", "failed", "failure"):
        return True
    return bool(record.get("error"))


def _count(record: dict[str, Any], key: str) -> int:
    holder = record.get("usage") if isinstance(record.get("usage"), dict) else record
    assert isinstance(holder, dict)
    value = holder.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key}: expected a non-negative number")
    return int(value)


@dataclass
class UsageTracker:
    """Reads a usage file incrementally and keeps per-day and per-month totals."""

    path: str
    prices: dict[str, ModelPrice]
    offset: int = 0
    inode: int | None = None
    lines_read: int = 0
    days: dict[dt.date, Totals] = field(default_factory=dict)
    months: dict[tuple[int, int], Totals] = field(default_factory=dict)
    day_models: dict[tuple[dt.date, str], Totals] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    _partial: bytes = b""
    _today: dt.date | None = None

    def poll(self) -> int:
        """Read what was appended since the last call; returns the records added."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return 0
        if self.inode != stat.st_ino or stat.st_size < self.offset:
            # Rotated or truncated: the new content starts at 0; totals so far stay.
            self.inode, self.offset, self._partial, self.lines_read = stat.st_ino, 0, b"", 0
        if stat.st_size == self.offset:
            return 0
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(stat.st_size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if not complete and not data.endswith(b"\n"):
            return 0
        added = 0
        for raw in complete.split(b"\n"):
            self.lines_read += 1
            if raw.strip():
                added += self._take(raw, self.lines_read)
        return added

    def _take(self, raw: bytes, line: int) -> int:
        try:
            record = msgspec.json.decode(raw)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            model = record.get("model")
            if not isinstance(model, str) or not model:
                raise ValueError("model: expected a model name")
            prompt = _count(record, "prompt_tokens")
            completion = _count(record, "completion_tokens")
            when = _when(record)
        except (msgspec.DecodeError, ValueError) as exc:
            self.error_count += 1
            self.errors = [*self.errors, f"{self.path} line {line}: {exc}"][-MAX_ERRORS_KEPT:]
            return 0
        cost = cost_usd(self.prices, model, prompt, completion)
        failed = _failed(record)
        day = when.date()
        _bump(self.days, day, prompt, completion, cost, failed)
        _bump(self.months, (when.year, when.month), prompt, completion, cost, failed)
        _bump(self.day_models, (day, model), prompt, completion, cost, failed)
        self._prune(when.date())
        return 1

    def _prune(self, newest: dt.date) -> None:
        if len(self.days) > KEEP_DAYS:
            cutoff = newest - dt.timedelta(days=KEEP_DAYS)
            self.days = {d: t for d, t in self.days.items() if d >= cutoff}
            self.day_models = {k: t for k, t in self.day_models.items() if k[0] >= cutoff}

    def today(self, now: dt.datetime | None = None) -> Totals:
        now = now or dt.datetime.now()
        return self.days.get(now.date(), Totals())

    def models(self, now: dt.datetime | None = None) -> dict[str, Totals]:
        day = (now or dt.datetime.now()).date()
        return {model: t for (d, model), t in self.day_models.items() if d == day}

    def month(self, now: dt.datetime | None = None) -> Totals:
        now = now or dt.datetime.now()
        return self.months.get((now.year, now.month), Totals())
