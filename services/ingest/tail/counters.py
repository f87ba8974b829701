"""Per-source counters of file ingest, published as a MetricBatch on vigil.metric.<host>.ingest."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from services.core import contracts


@dataclass(slots=True)
class SourceCounters:
    """Totals since start; the metric names are ``ingest.<field>{source=...}``."""

    records: int = 0
    bytes: int = 0
    batches: int = 0
    errors: int = 0
    files: int = 0


def metric_batch(host: str, counters: dict[str, SourceCounters]) -> contracts.MetricBatch:
    samples = [
        contracts.MetricSample(
            name=f"ingest.{f.name}", value=float(getattr(c, f.name)), labels={"source": source}
        )
        for source, c in counters.items()
        for f in fields(SourceCounters)
    ]
    return contracts.MetricBatch(host=host, group="ingest", ts=time.time(), samples=samples)
