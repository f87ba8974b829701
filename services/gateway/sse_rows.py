"""The ``rows`` SSE family: a compact summary of each stored WorkBatch for live row feeds.

Computed once per batch when the hub receives it and shared by every client that asks
for ``family=rows`` (the Work page). A payload that does not decode as a WorkBatch is
logged and skipped; the full ``work`` event still goes out as stored.
"""

from __future__ import annotations

import time

import msgspec

from services.core.logs import get_logger

log = get_logger("gateway")

ROWS_FAMILY = "rows"
# The last rows of a batch a summary carries: enough for a live feed, bounded in size.
ROWS_TAIL = 20


class _Row(msgspec.Struct, frozen=True):
    """The fields of a WorkEvent the feed shows (details and offsets are not decoded)."""

    line: int
    ts: str
    worker: str
    event: str


class _BatchView(msgspec.Struct, frozen=True, tag_field="schema", tag="vigil.work_batch/1"):
    """A WorkBatch, decoded only as far as the summary needs (the tag must match)."""

    source: str
    path: str
    process: str
    events: list[_Row]
    host: str = ""


class RowsSummary(msgspec.Struct, frozen=True):
    """The data of one ``rows`` event (documented in docs/SSE.md)."""

    process: str
    host: str
    source: str
    path: str
    count: int
    first_line: int
    last_line: int
    ts: float
    rows: list[_Row]


_decoder = msgspec.json.Decoder(_BatchView)
_encoder = msgspec.json.Encoder()


def rows_data(payload: bytes, subject: str, seq: int) -> str | None:
    """The JSON text of the ``rows`` event for one stored WorkBatch; None when malformed."""
    try:
        batch = _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("SSE rows: not a WorkBatch, skipped", subject=subject, seq=seq, error=str(exc))
        return None
    events = batch.events
    summary = RowsSummary(
        process=batch.process,
        host=batch.host,
        source=batch.source,
        path=batch.path,
        count=len(events),
        first_line=events[0].line if events else 0,
        last_line=events[-1].line if events else 0,
        ts=time.time(),
        rows=events[-ROWS_TAIL:],
    )
    return _encoder.encode(summary).decode()
