"""Latency bookkeeping per (process, worker): sessions ordered by (start, end, path, line).

latency = start − end of the previous session, at least 0; 0 for the first. Inserting
a session can change the latency of exactly one other session (its successor).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

SessionKey = tuple[float, float, str, int]


@dataclass(slots=True)
class Slot:
    """What the timeline remembers of one session."""

    session_id: int
    end_ts: float
    latency: float
    date: str


@dataclass
class Timeline:
    """The ordered sessions of one (process, worker)."""

    keys: list[SessionKey] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    def insert(self, key: SessionKey, slot: Slot) -> tuple[Slot, float] | None:
        """Place a session; sets its latency. Returns (successor, its old latency) if it changed."""
        keys = self.keys
        # Sessions mostly arrive in order: one comparison instead of a binary search.
        i = len(keys) if not keys or keys[-1] < key else bisect.bisect_left(keys, key)
        slot.latency = max(0.0, key[0] - self.slots[i - 1].end_ts) if i > 0 else 0.0
        changed = None
        if i < len(self.keys):
            successor = self.slots[i]
            new_latency = max(0.0, self.keys[i][0] - slot.end_ts)
            if new_latency != successor.latency:
                changed = (successor, successor.latency)
                successor.latency = new_latency
        self.keys.insert(i, key)
        self.slots.insert(i, slot)
        return changed
