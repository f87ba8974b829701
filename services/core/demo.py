"""``vigil demo``: realistic work-event logs (DESIGN §3) written at a steady pace."""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from services.core.config import Settings

PREFIX = {"packing": "포장실", "transfer": "이적", "inspection": "검사"}
WORKERS = {
    "packing": ["김민준", "이서연", "박지훈"],
    "transfer": ["최유진", "정우성"],
    "inspection": ["한지민", "오세훈"],
}
ITEMS = [("A123", "브래킷 A"), ("B200", "하우징 B"), ("C310", "커버 C"), ("D045", "샤프트 D")]
HEADER = ["timestamp", "worker", "event", "details"]


def log_file_name(process: str, worker: str, day: datetime) -> str:
    return f"{PREFIX[process]}작업이벤트로그_{worker}_{day:%Y%m%d}.csv"


@dataclass
class WorkerSim:
    """One worker's tray in progress.

    The tray's work time is simulated (the scans' intervals plus handling), not the wall time
    between rows: at a high ``--rate`` a 60-scan tray takes seconds of wall time, which made
    every tray time and KPI implausibly small.
    """

    process: str
    worker: str
    scans: int = 0
    errors: int = 0
    item: tuple[str, str] = ITEMS[0]
    work_s: float = 0.0  # Σ scan intervals of the tray in progress
    last_end: datetime | None = None  # when the previous tray was completed
    gap_s: float = 0.0  # the pause before this tray (its latency)


class DemoWriter:
    """Appends rows to the day's log file of each simulated worker."""

    def __init__(self, folder: Path, rng: random.Random) -> None:
        self.folder = folder
        self.rng = rng
        self.sims = [WorkerSim(p, w) for p, ws in WORKERS.items() for w in ws]
        for sim in self.sims:
            sim.item = rng.choice(ITEMS)
        self.rows = 0

    def _append(self, sim: WorkerSim, now: datetime, event: str, details: str) -> None:
        path = self.folder / log_file_name(sim.process, sim.worker, now)
        fresh = not path.exists()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if fresh:
            writer.writerow(HEADER)
        writer.writerow([now.isoformat(sep=" ", timespec="seconds"), sim.worker, event, details])
        # utf-8-sig writes the BOM only at the start of a new file, as Excel-made logs have.
        with path.open("a", encoding="utf-8-sig" if fresh else "utf-8", newline="") as fh:
            fh.write(buf.getvalue())
        self.rows += 1

    def step(self, now: datetime) -> None:
        sim = self.rng.choice(self.sims)
        roll = self.rng.random()
        if roll < 0.03:
            self._append(
                sim, now, self.rng.choice(["SCAN_ERROR", "PRINT_FAIL", "TRAY_CANCEL"]), "{}"
            )
            sim.errors += 1
            return
        target = 60 if sim.process == "packing" else self.rng.randint(8, 20)
        # A packing tray is full at 60 (the analyzer counts 60 pcs per packing tray whatever
        # was scanned); the other processes end a tray after a varying number of scans.
        if sim.scans < target and (sim.process == "packing" or roll < 0.93):
            sim.scans += 1
            interval = round(self.rng.uniform(2, 9), 1)
            sim.work_s += interval
            details = {
                "barcode": f"{sim.item[0]}-{self.rng.randint(100000, 999999)}",
                "interval_sec": interval,
            }
            self._append(sim, now, "SCAN_OK", json.dumps(details, ensure_ascii=False))
            return
        self._append(sim, now, "TRAY_COMPLETE", self._tray_details(sim, now))
        sim.last_end = now
        sim.gap_s = self.rng.uniform(5, 90)
        sim.scans = 0
        sim.errors = 0
        sim.work_s = 0.0
        sim.item = self.rng.choice(ITEMS)

    def _tray_start(self, sim: WorkerSim, now: datetime, work: float) -> datetime:
        """now − work time; at a high rate no earlier than the previous end + the pause, so
        the latency (start − previous end) stays plausible too."""
        start = now - timedelta(seconds=work)
        if sim.last_end is not None:
            start = max(start, min(sim.last_end + timedelta(seconds=sim.gap_s), now))
        return start

    def _tray_details(self, sim: WorkerSim, now: datetime) -> str:
        # Scanning time plus handling (fetching the tray, labelling it).
        work = max(1.0, sim.work_s + self.rng.uniform(5, 30))
        start = self._tray_start(sim, now, work).isoformat(sep=" ", timespec="seconds")
        if self.rng.random() < 0.3:
            # The QR form some scanners write: KEY=value|KEY=value
            return "|".join(
                [
                    f"start_time={start}",
                    f"work_time_sec={work:.0f}",
                    f"CLC={sim.item[0]}",
                    f"PHS={self.rng.randint(1, 3)}",
                    f"WID=WO-{now:%m%d}-{self.rng.randint(1, 40):02d}",
                    f"error_count={sim.errors}",
                    f"scan_count={sim.scans}",
                ]
            )
        details: dict[str, object] = {
            "start_time": start,
            "work_time": round(work, 1),
            "idle_time": round(self.rng.uniform(0, 40), 1),
            "process_errors": sim.errors,
            "had_error": sim.errors > 0,
            "item_code": sim.item[0],
            "item_name": sim.item[1],
            "shipping_date": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
            "WID": f"WO-{now:%m%d}-{self.rng.randint(1, 40):02d}",
            "scan_count": sim.scans,
        }
        if sim.process == "inspection":
            bad = self.rng.choice([0, 0, 0, 1, 2])
            details.update(good_count=max(sim.scans - bad, 0), defective_count=bad)
        return json.dumps(details, ensure_ascii=False)


def demo_folder(settings: Settings, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    for source in settings.ingest.sources:
        if source.parser == "work":
            return Path(source.path)
    return settings.data_path / "watch"


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    folder = demo_folder(settings, args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = DemoWriter(folder, random.Random(args.seed))
    rate = max(0.1, float(args.rate))
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    print(f"vigil demo: writing {rate:g} rows/s into {folder} (Ctrl-C to stop)")
    started = time.monotonic()
    try:
        while not stop and (args.duration <= 0 or time.monotonic() - started < args.duration):
            writer.step(datetime.now())
            time.sleep(1.0 / rate)
    except KeyboardInterrupt:
        pass
    print(f"vigil demo: wrote {writer.rows} rows")
    return 0
