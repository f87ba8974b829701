"""Asking a partitioned analyzer or alerts service (docs/DEPLOY.md §4).

With ``[analyzer] partitions`` or ``[alerts] partitions`` above 1, each instance answers on
``vigil.api.<service>.p<k>.<method>``. A question goes to the partition that owns what it is
about (a host's series, a series id, the work analytics on partition 0); a listing goes to
every partition and the answers are merged, sorted and cut to the limit *after* the merge;
a command whose owner the gateway cannot tell (ack or resolve by fingerprint) goes to every
partition and the owner's answer wins; a change that applies everywhere (silences, the rules
file, plugin registrations) goes to each partition in turn. A partition that does not answer
fails the whole question: a merged list missing one partition would look complete and lie.
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec

from services.alerts.model import SEVERITY_RANK
from services.core.bus import Bus, RpcError
from services.core.config import Settings
from services.core.partition import api, host_owner

Merge = Callable[[dict[str, Any], list[Any]], Any]


class Partitioned:
    """One question to a service of ``n`` partitions."""

    def __init__(self, bus: Bus, service: str, n: int, timeout: float) -> None:
        self.bus, self.service, self.n, self.timeout = bus, service, n, timeout

    async def one(self, k: int, method: str, payload: Any) -> Any:
        subject = api(self.service, method, k, self.n)
        data = await self.bus.request(subject, payload, timeout=self.timeout)
        return msgspec.json.decode(data)

    async def gather(self, method: str, payload: Any, parts: list[int] | None = None) -> list[Any]:
        """Every partition's answer, in partition order; the first failure is raised."""
        parts = list(range(self.n)) if parts is None else parts
        return list(await asyncio.gather(*(self.one(k, method, payload) for k in parts)))

    async def owner_answers(self, method: str, payload: Any) -> Any:
        """Ask all; the one that knows the thing answers. All 400: the owner's "no such"."""
        got = await asyncio.gather(
            *(self.one(k, method, payload) for k in range(self.n)), return_exceptions=True
        )
        for answer in got:
            if not isinstance(answer, BaseException):
                return answer
        # Unreachable beats "not found": the owner may be the partition that is down.
        unreachable = [e for e in got if not (isinstance(e, RpcError) and e.code == 400)]
        raise (unreachable or got)[0]

    async def each(self, method: str, payload: Any) -> Any:
        """Apply a change on every partition, one after the other (they may share a folder);
        partition 0's answer is returned."""
        answers = [await self.one(k, method, payload) for k in range(self.n)]
        return answers[0]


# ------------------------------------------------------------------ merges


def _series_key(one: dict[str, Any]) -> tuple[str, str, str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted((one.get("labels") or {}).items()))
    return (str(one.get("name", "")), str(one.get("host", "")), labels)


def merge_series(payload: dict[str, Any], answers: list[Any]) -> Any:
    """``{…, "series": [...]}`` answers: one list ordered like one database's, cut to limit."""
    merged = dict(answers[0])
    series = [one for answer in answers for one in answer.get("series", [])]
    series.sort(key=_series_key)
    merged["series"] = series[: int(payload.get("limit") or 50)]
    return merged


def merge_export(payload: dict[str, Any], answers: list[Any]) -> Any:
    first = dict(answers[0])
    if first.get("content_type") == "application/json":
        bodies = [msgspec.json.decode(a["body"]) for a in answers]
        first["body"] = msgspec.json.encode(merge_series(payload, bodies)).decode()
        return first
    header, rows = None, []
    for answer in answers:
        table = list(csv.reader(io.StringIO(answer["body"])))
        header = header or (table[0] if table else None)
        rows.extend(table[1:])
    rows.sort(key=lambda r: (r[1], r[0], r[2]))  # name, host, labels; stable keeps time order
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    first["body"] = out.getvalue()
    return first


def merge_hosts(_payload: dict[str, Any], answers: list[Any]) -> Any:
    hosts: dict[str, dict[str, int]] = {}
    for answer in answers:
        for one in answer.get("hosts", []):
            groups = hosts.setdefault(one["host"], {})
            for group, count in one.get("groups", {}).items():
                groups[group] = groups.get(group, 0) + count
    return {"hosts": [{"host": h, "groups": hosts[h]} for h in sorted(hosts)]}


def merge_plugins(_payload: dict[str, Any], answers: list[Any]) -> Any:
    """Registered on every partition; pushes counted where the pushing host is stored."""
    plugins: dict[str, dict[str, Any]] = {}
    for answer in answers:
        for one in answer.get("plugins", []):
            have = plugins.get(one["plugin_id"])
            if have is None:
                plugins[one["plugin_id"]] = dict(one)
                continue
            have["samples"] = (have.get("samples") or 0) + (one.get("samples") or 0)
            pushes = [t for t in (have.get("last_push_at"), one.get("last_push_at")) if t]
            have["last_push_at"] = max(pushes) if pushes else None
    return {"plugins": [plugins[p] for p in sorted(plugins)]}


def merge_stats(_payload: dict[str, Any], answers: list[Any]) -> Any:
    total: dict[str, Any] = {"partitions": len(answers)}
    for answer in answers:
        for key, value in answer.items():
            if key == "at":
                total["at"] = max(total.get("at", 0), value)
            elif isinstance(value, dict):
                into = total.setdefault(key, {})
                for sub, count in value.items():
                    into[sub] = into.get(sub, 0) + count
            elif isinstance(value, int | float):
                total[key] = total.get(key, 0) + value
    return total


def _newest_first(limit_default: int) -> Merge:
    def merge(payload: dict[str, Any], answers: list[Any]) -> Any:
        rows = [(k, row) for k, answer in enumerate(answers) for row in answer]
        rows.sort(key=lambda kr: (-kr[1].get("ts", 0), kr[0], -kr[1].get("id", 0)))
        limit = min(int(payload.get("limit") or limit_default), 10_000)
        return [row for _, row in rows[:limit]]

    return merge


def merge_active(_payload: dict[str, Any], answers: list[Any]) -> Any:
    rows = [row for answer in answers for row in answer]
    rows.sort(
        key=lambda a: (
            -SEVERITY_RANK.get(a.get("severity", ""), -1),
            -(a.get("fired_at") or a.get("started_at") or 0),
        )
    )
    return rows


def merge_silences(_payload: dict[str, Any], answers: list[Any]) -> Any:
    seen: dict[str, dict[str, Any]] = {}
    for answer in answers:
        for row in answer:
            seen.setdefault(row["id"], row)
    return sorted(seen.values(), key=lambda s: -(s.get("created_at") or 0))[:500]


# ------------------------------------------------------------------ routing

ALL: dict[str, dict[str, Merge]] = {
    "alerts": {
        "active": merge_active,
        "history": _newest_first(200),
        "deliveries": _newest_first(200),
        "silences": merge_silences,
    },
    "analyzer": {
        "metric_hosts": merge_hosts,
        "metric_plugins": merge_plugins,
        "metric_stats": merge_stats,
        "metric_export": merge_export,
    },
}
# Methods that change every partition, one after the other.
EACH = {"alerts": {"rules_put", "silence"}, "analyzer": {"metric_register_plugin"}}
# Methods about one thing whose owner only the partitions know.
OWNER_ANSWERS = {"alerts": {"ack", "resolve", "unsilence"}, "analyzer": set()}
# Analyzer queries that take a series selector.
SELECTOR_METHODS = {
    "metric_series", "metric_query", "metric_window", "metric_summary", "metric_trend",
    "metric_pattern", "metric_anomalies", "metric_forecast", "metric_export",
}  # fmt: skip


def _selector_owners(payload: dict[str, Any], n: int) -> list[int] | None:
    """The partitions a selector can concern, or None for "all of them"."""
    if isinstance(payload.get("host"), str) and payload["host"]:
        return [host_owner(payload["host"], n)]
    ids: list[Any] = [payload["series_id"]] if payload.get("series_id") else []
    ids = ids or list(payload.get("ids") or [])
    if ids and all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return sorted({i % n for i in ids})
    return None


async def ask_partitioned(
    bus: Bus, service: str, method: str, payload: Any, n: int, timeout: float
) -> Any:
    """The decoded answer of ``service`` (``n`` partitions) to ``method``."""
    ask = Partitioned(bus, service, n, timeout)
    p: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    if method in EACH.get(service, set()):
        if method == "silence" and not p.get("id"):
            p["id"] = secrets.token_hex(6)  # the same silence id on every partition
        return await ask.each(method, p)
    if method in OWNER_ANSWERS.get(service, set()):
        return await ask.owner_answers(method, p)
    if service == "analyzer" and method in SELECTOR_METHODS:
        parts = _selector_owners(p, n)
        if parts is not None and len(parts) == 1:
            return await ask.one(parts[0], method, p)
        if method != "metric_series" and not p.get("end"):
            p["end"] = time.time()  # one "now" for every partition's time range
        answers = await ask.gather(method, p, parts)
        merge = merge_export if method == "metric_export" else merge_series
        return merge(p, answers)
    merge_all = ALL.get(service, {}).get(method)
    if merge_all is not None:
        return merge_all(p, await ask.gather(method, p))
    # Work analytics, rules, receivers, health…: partition 0 has them (every alerts instance
    # loads the whole rule set; only partition 0 runs the work analytics).
    return await ask.one(0, method, payload)


def partitions_of(settings: Settings, service: str) -> int:
    """How many instances share ``service``'s work (1 = not partitioned)."""
    if service == "alerts":
        return settings.alerts.partitions
    if service == "analyzer":
        return settings.analyzer.partitions
    return 1
