"""An independent pandas calculation of DESIGN §3, to check the incremental analyzer against."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tests.work.gen import Row

TRUE = {"1", "true", "t", "yes", "y"}
ALT = {
    "work_time": ["work_time", "work_time_sec"],
    "idle_time": ["idle_time", "total_idle_seconds"],
    "process_errors": ["process_errors", "error_count"],
    "had_error": ["had_error", "has_error_or_reset"],
    "is_partial": ["is_partial", "is_partial_submission"],
    "is_restored": ["is_restored_session"],
    "is_test": ["is_test", "is_test_tray"],
    "item_code": ["CLC", "item_code"],
    "item_name": ["item_name"],
    "shipping_date": ["OBD", "shipping_date"],
    "work_order": ["WID"],
    "defective": ["defective_count"],
    "start_time": ["start_time"],
}
WEIGHTS = {
    "packing": [("avg_work_time", False, 1.0), ("avg_latency", False, 1.0),
                ("first_pass_yield", True, 0.7), ("avg_pcs_per_tray", True, 1.0)],
    "transfer": [("avg_work_time", False, 1.0), ("avg_latency", False, 1.0),
                 ("first_pass_yield", True, 0.7), ("work_time_std", False, 1.0)],
    "inspection": [("avg_work_time", False, 1.0), ("avg_latency", False, 0.8),
                   ("first_pass_yield", True, 1.2), ("work_time_std", False, 0.7),
                   ("defect_rate", False, 1.5)],
}  # fmt: skip


def _pick(d: dict[str, Any], keys: list[str]) -> Any:
    return next((d[k] for k in keys if d.get(k) is not None), None)


def _truthy(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    return isinstance(v, str) and v.strip().lower() in TRUE


def sessions_frame(
    rows: Iterable[Row], aliases: dict[str, str] | None = None, pcs_per_tray: int = 60
) -> pd.DataFrame:
    """Sessions with latency, from raw rows (the whole history)."""
    aliases = aliases or {}
    recs = []
    for r in rows:
        if r.event.upper() != "TRAY_COMPLETE":
            continue
        d = r.details
        rec: dict[str, Any] = {k: _pick(d, keys) for k, keys in ALT.items()}
        rec.update(process=r.process, worker=aliases.get(r.worker, r.worker), end=r.ts,
                   path=r.path, line=r.line, good=d.get("good_count"),
                   scans=d.get("scan_count"))  # fmt: skip
        recs.append(rec)
    df = pd.DataFrame(recs)
    text = df["start_time"].where(df["start_time"].map(lambda v: isinstance(v, str)), None)
    ok_shape = text.str.strip().str.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", na=False)
    df["start"] = pd.to_datetime(text.where(ok_shape).str.strip(), errors="coerce", format="mixed")
    df = df[df["start"].notna()].copy()
    df["end"] = pd.to_datetime(df["end"], format="ISO8601")

    def num(col: pd.Series) -> pd.Series:
        return pd.to_numeric(col.map(lambda v: v.strip() if isinstance(v, str) else v),
                             errors="coerce").astype(float).fillna(0.0)  # fmt: skip

    for col in ("work_time", "idle_time"):
        df[col] = num(df[col])
    for col in ("process_errors", "defective"):
        df[col] = np.trunc(num(df[col])).astype(int)
    for col in ("had_error", "is_partial", "is_restored", "is_test"):
        df[col] = df[col].map(_truthy).astype(int)
    good = np.trunc(num(df["good"])).astype(int)
    scans = np.trunc(num(df["scans"])).astype(int)
    df["pcs"] = np.where(
        df["process"] == "packing", pcs_per_tray,
        np.where(df["process"] == "inspection", good + df["defective"], scans),
    )  # fmt: skip
    df["item_code"] = df["item_code"].map(lambda v: str(v).strip() if v is not None else "")
    df["item_name"] = df["item_name"].map(lambda v: str(v).strip() if v is not None else "")
    df["shipping_date"] = pd.to_datetime(
        df["shipping_date"].map(lambda v: str(v).replace("-", "") if v else None),
        format="%Y%m%d", errors="coerce",
    ).dt.strftime("%Y-%m-%d").fillna("")  # fmt: skip
    df["date"] = df["start"].dt.strftime("%Y-%m-%d")
    df = df.sort_values(["process", "worker", "start", "end", "path", "line"])
    prev_end = df.groupby(["process", "worker"])["end"].shift(1)
    df["latency"] = (df["start"] - prev_end).dt.total_seconds().clip(lower=0).fillna(0.0)
    return df.reset_index(drop=True)


def select(
    df: pd.DataFrame, process: str = "all", date_from: str | None = None,
    date_to: str | None = None, workers: Iterable[str] = (), ship_from: str | None = None,
    ship_to: str | None = None, test_workers: Iterable[str] = (),
) -> pd.DataFrame:  # fmt: skip
    out = df if process == "all" else df[df["process"] == process]
    if date_from:
        out = out[out["date"] >= date_from]
    if date_to:
        out = out[out["date"] <= date_to]
    if workers:
        out = out[out["worker"].isin(list(workers))]
    out = out[~out["worker"].isin(list(test_workers))]
    if ship_from or ship_to:
        out = out[out["shipping_date"] != ""]
        if ship_from:
            out = out[out["shipping_date"] >= ship_from]
        if ship_to:
            out = out[out["shipping_date"] <= ship_to]
    return out


def kpis(df: pd.DataFrame) -> dict[str, float]:
    n = len(df)
    if n == 0:
        return {"total_trays": 0, "total_pcs": 0, "avg_pcs_per_tray": 0, "avg_tray_time": 0,
                "total_errors": 0, "weekly_avg_errors": 0, "avg_fpy": 1.0, "avg_latency": 0,
                "avg_defect_rate": 0}  # fmt: skip
    days = (date.fromisoformat(df["date"].max()) - date.fromisoformat(df["date"].min())).days + 1
    eligible = df[(df["is_test"] == 0) & (df["is_partial"] == 0) & (df["is_restored"] == 0)]
    lat = df.loc[df["latency"] <= 3600, "latency"]
    has_insp = (df["process"] == "inspection").any()
    return {
        "total_trays": n,
        "total_pcs": int(df["pcs"].sum()),
        "avg_pcs_per_tray": df["pcs"].sum() / n,
        "avg_tray_time": df["work_time"].mean(),
        "total_errors": int(df["process_errors"].sum()),
        "weekly_avg_errors": df["process_errors"].sum() / (days / 7 if days >= 7 else 1),
        "avg_fpy": 1 - eligible["had_error"].mean() if len(eligible) else 1.0,
        "avg_latency": lat.mean() if len(lat) else 0.0,
        "avg_defect_rate": df["defective"].sum() / df["pcs"].sum()
        if has_insp and df["pcs"].sum() else 0.0,
    }  # fmt: skip


def workers(
    df: pd.DataFrame, process: str, history: pd.DataFrame, as_of: str
) -> dict[str, dict[str, Any]]:
    """Per-worker metrics, overall score and best work time (``history`` = unfiltered view)."""
    out: dict[str, dict[str, Any]] = {}
    for worker, g in df.groupby("worker"):
        lat = g.loc[g["latency"] <= 3600, "latency"]
        out[str(worker)] = {
            "session_count": len(g),
            "total_pcs": int(g["pcs"].sum()),
            "avg_pcs_per_tray": g["pcs"].mean(),
            "avg_work_time": g["work_time"].mean(),
            "work_time_std": g["work_time"].std(ddof=1) if len(g) > 1 else 0.0,
            "avg_latency": lat.mean() if len(lat) else 0.0,
            "avg_idle_time": g["idle_time"].mean(),
            "total_process_errors": int(g["process_errors"].sum()),
            "first_pass_yield": 1 - g["had_error"].mean(),
            "defect_rate": g["defective"].sum() / g["pcs"].sum()
            if (g["process"] == "inspection").any() and g["pcs"].sum() else 0.0,
        }  # fmt: skip
    weights = WEIGHTS["transfer" if process == "all" else process]
    table = pd.DataFrame.from_dict(out, orient="index")
    if len(table):
        acc = pd.Series(0.0, index=table.index)
        for metric, higher, w in weights:
            col = table[metric].astype(float)
            span = col.max() - col.min()
            norm = (col - col.min()) / span if span else pd.Series(0.5, index=table.index)
            if span and not higher:
                norm = 1 - norm
            acc += w * norm
        table["overall_score"] = 100 * acc / sum(w for _, _, w in weights)
        for worker in out:
            out[worker]["overall_score"] = table.loc[worker, "overall_score"]
            out[worker]["best_work_time"] = best_work_time(history, worker, as_of)
    return out


def best_work_time(history: pd.DataFrame, worker: str, as_of: str, pcs: int = 60) -> float | None:
    day = date.fromisoformat(as_of)
    g = history[history["worker"] == worker]
    clean = g[(g["pcs"] == pcs) & (g["had_error"] == 0) & (g["process_errors"] == 0)
              & (g["is_partial"] == 0) & (g["is_restored"] == 0) & (g["is_test"] == 0)]  # fmt: skip
    recent = clean[(clean["date"] >= (day - timedelta(days=7)).isoformat())
                   & (clean["date"] <= as_of)]  # fmt: skip
    floor = max(180.0, 0.6 * recent["work_time"].mean()) if len(recent) else 180.0
    monday = (day - timedelta(days=day.weekday())).isoformat()
    week = clean[
        (clean["date"] >= monday) & (clean["date"] <= as_of) & (clean["work_time"] >= floor)
    ]
    return float(week["work_time"].min()) if len(week) else None
