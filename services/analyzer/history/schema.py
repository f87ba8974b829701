"""Tables of <data_dir>/analyzer-history.sqlite (core tables; SQLModel source: models.py).

- ``hist_series``: one row per series (host + name + labels), with its latest value;
- ``hist_raw``: raw samples packed in chunks of up to 160 per series
  (``ts_ms`` uint32 offsets from ``start_ms``, then float64 values);
- ``hist_1m`` / ``hist_1h``: rollups per series and bucket: count, sum, min, max,
  last, P50/P95/P99 packed in ``stats``; ``hist_1m_sketch`` / ``hist_1h_sketch``
  beside them hold each bucket's quantile sketch, read only when buckets merge
  (kept apart so that long chart queries read small rows);
- ``hist_plugin``: plugins registered to push metrics.
"""

from __future__ import annotations

from services.analyzer.history import tables

SERIES_T = tables.hist_series
RAW_T = tables.hist_raw
M1_T = tables.hist_1m
H1_T = tables.hist_1h
M1S_T = tables.hist_1m_sketch
H1S_T = tables.hist_1h_sketch
PLUGIN_T = tables.hist_plugin
SKETCHES = {M1_T.name: M1S_T, H1_T.name: H1S_T}
HISTORY_TABLES = [SERIES_T, RAW_T, M1_T, H1_T, M1S_T, H1S_T, PLUGIN_T]
