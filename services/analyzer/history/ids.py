"""Global series ids of a partitioned history: local id × N + k, so the id names its owner.

Each partition numbers its series in its own SQLite file; without this, partition 0's
series 5 and partition 1's series 5 would be the same id to the gateway. With one
partition (the default) ids are unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.analyzer.history.rpc import Selector

_NONE = 0  # SQLite row ids start at 1: id 0 matches no series


class SeriesIds:
    """Translates the ids of one partition's queries and answers."""

    def __init__(self, partition: int, partitions: int) -> None:
        self.k = partition
        self.n = max(1, partitions)

    def owner(self, global_id: int) -> int:
        return global_id % self.n

    def to_local(self, sel: Selector) -> bool:
        """Rewrite ``series_id``/``ids`` to this file's ids; False when none of them is ours
        (the selector then matches no series, so the answer keeps its usual shape)."""
        if self.n == 1:
            return True
        wanted = [sel.series_id] if sel.series_id else list(sel.ids)
        if not wanted:
            return True
        mine = [i // self.n for i in wanted if i % self.n == self.k]
        sel.series_id = 0
        sel.ids = mine or [_NONE]
        return bool(mine)

    def to_global(self, answer: Any) -> Any:
        """Series ids of an answer (``{"series": [{"id"…}]}`` or a JSON export) made global."""
        if self.n == 1 or not isinstance(answer, dict):
            return answer
        for one in answer.get("series", ()):
            if isinstance(one, dict) and isinstance(one.get("id"), int):
                one["id"] = one["id"] * self.n + self.k
        if answer.get("content_type") == "application/json" and "body" in answer:
            body = msgspec.json.decode(answer["body"])
            answer["body"] = msgspec.json.encode(self.to_global(body)).decode()
        return answer
