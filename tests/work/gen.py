"""Generated work-event logs for the analytics tests: every alternative key of DESIGN §3,
QR-form (string) values, test/partial/restored trays, latencies over an hour, bad values."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.core.contracts import WorkBatch, WorkEvent

PROCESSES = ("packing", "transfer", "inspection")
WORKERS = ("kim", "lee", "park", "choi", "tester")


@dataclass
class Row:
    """One generated work event (one CSV line)."""

    process: str
    worker: str
    ts: str
    event: str
    details: dict[str, Any]
    path: str
    line: int
    qr: bool = False


@dataclass
class Log:
    rows: list[Row] = field(default_factory=list)

    def files(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for row in self.rows:
            out.setdefault(row.path, []).append(row)
        return out


def _fmt(moment: datetime, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.4:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if choice < 0.7:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if choice < 0.85:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def _flag(rng: random.Random, p: float) -> Any:
    on = rng.random() < p
    forms_on: list[Any] = [True, 1, "1", "true", "T", "yes", "Y", "TRUE", 2.0]
    forms_off: list[Any] = [False, 0, "0", "false", "no", "n", "", "off"]
    return rng.choice(forms_on if on else forms_off)


def _num(value: float, rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.5:
        return value
    if r < 0.8:
        return str(value)
    return f" {value} "


def _tray_details(
    process: str, start: datetime, work: float, rng: random.Random, bad: bool
) -> dict[str, Any]:
    d: dict[str, Any] = {}
    # start_time: usually fine; rarely missing or bad (skipped session, counted problem)
    r = rng.random()
    if bad and r < 0.3:
        pass
    elif bad and r < 0.6:
        d["start_time"] = rng.choice(["garbage", "2026-13-40 10:00:00", "", "10:00:00"])
    else:
        d["start_time"] = _fmt(start, rng)
    wt_key = rng.choice(["work_time", "work_time_sec", "null_first"])
    if wt_key == "null_first":
        d["work_time"] = None
        d["work_time_sec"] = _num(work, rng)
    else:
        d[wt_key] = _num(work, rng)
    if bad and rng.random() < 0.3:
        d["work_time" if "work_time" in d and d["work_time"] is not None else "work_time_sec"] = (
            "n/a"
        )
    d[rng.choice(["idle_time", "total_idle_seconds"])] = _num(round(rng.uniform(0, 90), 2), rng)
    errors = rng.choice([0, 0, 0, 1, 2, 3])
    d[rng.choice(["process_errors", "error_count"])] = rng.choice(
        [errors, str(errors), f"{errors}.7"]
    )
    d[rng.choice(["had_error", "has_error_or_reset"])] = _flag(rng, 0.2)
    if rng.random() < 0.3:
        d[rng.choice(["is_partial", "is_partial_submission"])] = _flag(rng, 0.3)
    if rng.random() < 0.2:
        d["is_restored_session"] = _flag(rng, 0.4)
    if rng.random() < 0.3:
        d[rng.choice(["is_test", "is_test_tray"])] = _flag(rng, 0.3)
    if rng.random() < 0.9:
        d[rng.choice(["CLC", "item_code"])] = rng.choice(["A100", "B200", "C300", "D400"])
    if rng.random() < 0.6:
        d["item_name"] = rng.choice(["", "Widget", "Gadget"])
    if rng.random() < 0.7:
        ship = start.date() + timedelta(days=rng.randint(0, 5))
        d[rng.choice(["OBD", "shipping_date"])] = rng.choice(
            [ship.isoformat(), ship.strftime("%Y%m%d")]
        )
    d["WID"] = f"WO{rng.randint(1, 30):03d}"
    d["PHS"] = rng.choice(["1", "2"])
    if process == "inspection":
        d["good_count"] = _num(rng.randint(40, 60), rng)
        d["defective_count"] = rng.choice([0, 0, 1, 2, "3"])
    elif process == "transfer":
        d["scan_count"] = rng.choice([58, 60, 60, "60", 61.9])
    elif rng.random() < 0.1:
        d["defective_count"] = 1
    return d


def generate(seed: int = 1, days: int = 12, first_day: date = date(2026, 11, 2)) -> Log:
    """Rows for 3 processes × 5 workers × ``days`` days (one file per worker and day)."""
    rng = random.Random(seed)
    log = Log()
    barcode = 0
    for day_i in range(days):
        day = first_day + timedelta(days=day_i)
        if day.weekday() == 6:
            continue  # Sundays off: working days differ from calendar days
        for process in PROCESSES:
            for worker in WORKERS:
                if rng.random() < 0.15:
                    continue
                path = f"{process}/{worker}_{day:%Y%m%d}.csv"
                line = 2
                t = datetime.combine(day, datetime.min.time()) + timedelta(
                    hours=6, minutes=rng.randint(0, 90)
                )
                qr = rng.random() < 0.3
                for _ in range(rng.randint(3, 14)):
                    work = round(rng.choice([rng.uniform(150, 600), rng.uniform(0, 30), 0.0]), 3)
                    start = t
                    for _ in range(rng.randint(0, 3)):
                        barcode += 1
                        t += timedelta(seconds=rng.uniform(1, 20))
                        log.rows.append(
                            Row(process, worker, _fmt(t, rng), "SCAN_OK",
                                {"barcode": f"BC{barcode:06d}", "interval_sec": "3.5"},
                                path, line, qr)
                        )  # fmt: skip
                        line += 1
                    if rng.random() < 0.15:
                        event = rng.choice(["SCAN_ERROR", "print_fail", "Tray_Cancel", "ERROR"])
                        log.rows.append(
                            Row(
                                process, worker, _fmt(t, rng), event, {"code": "E1"}, path, line, qr
                            )
                        )
                        line += 1
                    end = start + timedelta(seconds=work + rng.uniform(0, 30))
                    t = max(t, end)
                    details = _tray_details(process, start, work, rng, rng.random() < 0.04)
                    if qr:
                        details = {k: _qr_value(v) for k, v in details.items() if v is not None}
                    log.rows.append(
                        Row(process, worker, t.strftime("%Y-%m-%dT%H:%M:%S.%f"), "TRAY_COMPLETE",
                            details, path, line, qr)
                    )  # fmt: skip
                    line += 1
                    # gaps: usual, over an hour, or overlapping (negative latency → 0)
                    gap = rng.choice([5, 30, 120, 4000, -60])
                    t += timedelta(seconds=gap if gap > 0 else 0)
                    if gap < 0:
                        t -= timedelta(seconds=60)
    return log


def _qr_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def details_text(row: Row) -> str:
    """The CSV ``details`` cell: JSON, or the QR form for QR rows."""
    if row.qr:
        return "|".join(f"{k}={v}" for k, v in row.details.items())
    return json.dumps(row.details, ensure_ascii=False)


def batches(log: Log, *, size: int = 7, seed: int = 0) -> list[WorkBatch]:
    """The rows as WorkBatches of ``size`` lines per read, files in a shuffled order."""
    rng = random.Random(seed)
    files = list(log.files().items())
    rng.shuffle(files)
    out = []
    for path, rows in files:
        for i in range(0, len(rows), size):
            chunk = rows[i : i + size]
            out.append(
                WorkBatch(
                    source="work", path=path, file_id=f"id:{path}", start=chunk[0].line * 100,
                    end=chunk[-1].line * 100 + 99, process=chunk[0].process,
                    worker=chunk[0].worker,
                    events=[WorkEvent(line=r.line, ts=r.ts, worker=r.worker, process=r.process,
                                      event=r.event, details=r.details) for r in chunk],
                )
            )  # fmt: skip
    return out
