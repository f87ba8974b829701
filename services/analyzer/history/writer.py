"""The one writer of the history database: samples in, raw chunks and rollups out, retention.

All methods run in the writer's single thread. Per series, samples must move
forward in time: a sample at or before the series' last stored time is a
duplicate (a redelivery after a crash) or out of order, and is counted and
skipped, so a redelivered batch is never stored twice.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import Connection, Engine, Table, bindparam, delete, insert, select, update

from services.analyzer.history.accum import RawChunk, Rollup, SeriesState
from services.analyzer.history.schema import H1_T, M1_T, PLUGIN_T, RAW_T, SERIES_T, SKETCHES
from services.analyzer.history.sketch import SketchCodec
from services.core.config.metrics import HistorySettings
from services.core.contracts import MetricBatch, MetricSample
from services.ingest.collectors.validate import MetricRejected, check_sample

RAW, M1, H1, SERIES, PLUGIN = RAW_T, M1_T, H1_T, SERIES_T, PLUGIN_T
_labels_json = msgspec.json.Encoder()


def series_key(host: str, name: str, labels: dict[str, str]) -> str:
    """Identity of a series: host, name and the sorted labels."""
    return f"{host}\x1f{name}\x1f" + _labels_json.encode(dict(sorted(labels.items()))).decode()


@dataclass
class WriteResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


class HistoryWriter:
    """Owns the write connection; call ``write`` with decoded batches, ``retain`` now and then."""

    def __init__(self, engine: Engine, settings: HistorySettings) -> None:
        self.engine = engine
        self.settings = settings
        self.codec = SketchCodec(settings.sketch_accuracy)
        self.series: dict[str, SeriesState] = {}
        self._known: dict[tuple[str, str, tuple[tuple[str, str], ...]], SeriesState] = {}
        self.totals: Counter[str] = Counter()
        self.rejected_by_reason: Counter[str] = Counter()
        self._load()

    def _load(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    SERIES.c.id, SERIES.c.key, SERIES.c.last_ts, SERIES.c.last_value, SERIES.c.grp
                )
            )
            for sid, key, last_ts, last_value, grp in rows:
                self.series[key] = SeriesState(
                    id=sid, last_ts=last_ts, group=grp, last_value=last_value
                )

    # ------------------------------------------------------------------ writing

    def write(self, batches: list[MetricBatch], now: float | None = None) -> WriteResult:
        """Store every valid sample of ``batches`` in one transaction."""
        now = time.time() if now is None else now
        raw_from = now - self.settings.raw_retention_h * 3600
        minute_from = now - self.settings.minute_retention_d * 86400
        result = WriteResult()
        chunks: dict[tuple[int, int], RawChunk] = {}
        rollups: dict[tuple[Table, int, int], Rollup] = {}
        touched: dict[int, SeriesState] = {}
        plugin_counts: Counter[str] = Counter()
        with self.engine.begin() as conn:
            for batch in batches:
                ts = float(batch.ts)
                for sample in batch.samples:
                    state = self._known.get((batch.host, sample.name, tuple(sample.labels.items())))
                    if state is None:
                        state = self._resolve(conn, result, batch, sample, ts)
                        if state is None:
                            continue
                    elif not math.isfinite(sample.value):
                        self._reject(result, f"{sample.name}: value is not finite")
                        continue
                    if ts <= state.last_ts:
                        result.duplicates += 1
                        continue
                    value = float(sample.value)
                    if ts >= raw_from:
                        self._add_raw(state, ts, value, chunks)
                    if ts >= minute_from:
                        self._add_rollup(conn, state, M1, 60, ts, value, rollups)
                    self._add_rollup(conn, state, H1, 3600, ts, value, rollups)
                    state.last_ts, state.last_value, state.group = ts, value, batch.group
                    touched[state.id] = state
                    result.accepted += 1
                    if batch.group == "plugin" and "plugin" in sample.labels:
                        plugin_counts[sample.labels["plugin"]] += 1
            self._flush(conn, chunks, rollups, touched, plugin_counts, now)
        self.totals.update(
            accepted=result.accepted, duplicates=result.duplicates, rejected=result.rejected
        )
        return result

    def _resolve(
        self,
        conn: Connection,
        result: WriteResult,
        batch: MetricBatch,
        sample: MetricSample,
        ts: float,
    ) -> SeriesState | None:
        """Check a sample of a series not seen in this form yet; find or create its series."""
        try:
            check_sample(sample)
        except MetricRejected as exc:
            self._reject(result, str(exc))
            return None
        key = series_key(batch.host, sample.name, sample.labels)
        state = self.series.get(key)
        if state is None:
            if len(self.series) >= self.settings.max_series:
                self._reject(result, f"{sample.name}: series limit reached")
                return None
            state = self._create(conn, key, batch, sample.name, sample.labels, ts)
        if len(self._known) > 4 * self.settings.max_series:
            self._known.clear()  # label orders vary without bound only under abuse
        # Name and labels passed the rules: later samples of this form skip the checks.
        self._known[(batch.host, sample.name, tuple(sample.labels.items()))] = state
        return state

    def _reject(self, result: WriteResult, reason: str) -> None:
        result.rejected += 1
        if len(result.reasons) < 20:
            result.reasons.append(reason)
        # Count by rule, not by value, so the counter stays small.
        self.rejected_by_reason[reason.split(":", 1)[-1].strip()[:80]] += 1

    def _create(
        self, conn: Connection, key: str, batch: MetricBatch, name: str, labels: dict, ts: float
    ) -> SeriesState:
        res = conn.execute(
            insert(SERIES).values(
                key=key,
                host=batch.host,
                grp=batch.group,
                name=name,
                labels=_labels_json.encode(dict(sorted(labels.items()))).decode(),
                first_ts=ts,
                last_ts=0.0,
                last_value=0.0,
            )
        )
        sid = res.inserted_primary_key[0] if res.inserted_primary_key else None
        assert sid is not None
        state = SeriesState(id=int(sid), last_ts=0.0, group=batch.group)
        self.series[key] = state
        return state

    def _add_raw(
        self, state: SeriesState, ts: float, value: float, chunks: dict[tuple[int, int], RawChunk]
    ) -> None:
        ts_ms = round(ts * 1000)
        chunk = state.chunk
        if chunk is None or not chunk.fits(ts_ms):
            chunk = state.chunk = RawChunk(start_ms=ts_ms)
        chunk.add(ts_ms, value)
        chunks[(state.id, chunk.start_ms)] = chunk

    def _add_rollup(
        self,
        conn: Connection,
        state: SeriesState,
        table: Table,
        width: int,
        ts: float,
        value: float,
        rollups: dict[tuple[Table, int, int], Rollup],
    ) -> None:
        bucket = int(ts // width) * width
        attr = "minute" if width == 60 else "hour"
        acc: Rollup | None = getattr(state, attr)
        if acc is None or acc.bucket != bucket:
            acc = None
            if state.last_ts >= bucket:
                # First touch since start of a bucket that already holds data: continue it.
                acc = self._load_rollup(conn, table, state.id, bucket)
            acc = acc or Rollup.empty(bucket, self.settings.sketch_accuracy)
            setattr(state, attr, acc)
        acc.add(value)
        rollups[(table, state.id, bucket)] = acc

    def _load_rollup(self, conn: Connection, table: Table, sid: int, bucket: int) -> Rollup | None:
        c, k = table.c, SKETCHES[table.name].c
        row = conn.execute(
            select(c.ts, c.stats, k.sketch)
            .join_from(table, SKETCHES[table.name], (k.series_id == c.series_id) & (k.ts == c.ts))
            .where(c.series_id == sid, c.ts == bucket)
        ).first()
        return Rollup.from_row(tuple(row), self.codec) if row else None

    def _flush(
        self,
        conn: Connection,
        chunks: dict[tuple[int, int], RawChunk],
        rollups: dict[tuple[Table, int, int], Rollup],
        touched: dict[int, SeriesState],
        plugin_counts: Counter[str],
        now: float,
    ) -> None:
        if chunks:
            rows = [
                {
                    "series_id": sid,
                    "start_ms": c.start_ms,
                    "end_ms": c.end_ms,
                    "n": len(c.values),
                    "data": c.blob(),
                }
                for (sid, _), c in chunks.items()
            ]
            conn.execute(insert(RAW).prefix_with("OR REPLACE"), rows)
        for table in (M1, H1):
            pairs = [acc.rows(sid) for (t, sid, _), acc in rollups.items() if t is table]
            if pairs:
                conn.execute(insert(table).prefix_with("OR REPLACE"), [m for m, _ in pairs])
                sketches = SKETCHES[table.name]
                conn.execute(insert(sketches).prefix_with("OR REPLACE"), [k for _, k in pairs])
        if touched:
            conn.execute(
                update(SERIES)
                .where(SERIES.c.id == bindparam("sid"))
                .values(last_ts=bindparam("lts"), last_value=bindparam("lv"), grp=bindparam("g")),
                [
                    {"sid": s.id, "lts": s.last_ts, "lv": s.last_value, "g": s.group}
                    for s in touched.values()
                ],
            )
        for plugin_id, count in plugin_counts.items():
            conn.execute(
                update(PLUGIN)
                .where(PLUGIN.c.plugin_id == plugin_id)
                .values(last_push_at=now, samples=PLUGIN.c.samples + count)
            )

    # ------------------------------------------------------------------ retention

    def retain(self, now: float | None = None) -> dict[str, int]:
        """Delete what is older than each tier's retention; returns rows deleted per tier."""
        now = time.time() if now is None else now
        s = self.settings
        raw_cut_ms = int((now - s.raw_retention_h * 3600) * 1000)
        cuts = {
            "1m": (M1, now - s.minute_retention_d * 86400),
            "1h": (H1, now - s.hour_retention_d * 86400),
        }
        with self.engine.begin() as conn:
            deleted = {"raw": conn.execute(delete(RAW).where(RAW.c.end_ms < raw_cut_ms)).rowcount}
            for tier, (table, cut) in cuts.items():
                deleted[tier] = conn.execute(delete(table).where(table.c.ts < cut)).rowcount
                sketches = SKETCHES[table.name]
                conn.execute(delete(sketches).where(sketches.c.ts < cut))
        for state in self.series.values():
            # A closed chunk that was deleted must not be rewritten by a late flush.
            if state.chunk is not None and state.chunk.end_ms < raw_cut_ms:
                state.chunk = None
        return deleted

    # ------------------------------------------------------------------ plugins

    def register_plugin(self, plugin_id: str, name: str, description: str, by: str) -> dict:
        now = time.time()
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(PLUGIN.c.registered_at).where(PLUGIN.c.plugin_id == plugin_id)
            ).first()
            if existing:
                conn.execute(
                    update(PLUGIN)
                    .where(PLUGIN.c.plugin_id == plugin_id)
                    .values(name=name, description=description)
                )
            else:
                conn.execute(
                    insert(PLUGIN).values(
                        plugin_id=plugin_id,
                        name=name,
                        description=description,
                        registered_at=now,
                        registered_by=by,
                        last_push_at=0.0,
                        samples=0,
                    )
                )
        return {"plugin_id": plugin_id, "name": name, "created": not existing}
