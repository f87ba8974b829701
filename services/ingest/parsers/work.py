"""The work-event parser (DESIGN §3): process and worker from the file name, WorkBatches out."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import PurePath
from typing import Any

from services.core import contracts
from services.ingest.parsers.base import (
    Line,
    LineError,
    Parsed,
    cut_raw,
    decode_line,
    too_long,
    undecodable,
)
from services.ingest.parsers.details import DetailsError, parse_details
from services.ingest.parsers.timestamps import normalise_ts

PROCESSES = {"포장실": "packing", "이적": "transfer", "검사": "inspection"}
FILE_NAME = re.compile(r"(포장실|이적|검사)작업이벤트로그_(.+)_(\d{8})\.csv", re.IGNORECASE)
REQUIRED = ("timestamp", "event", "details")
TS_SHAPE = "YYYY-MM-DD HH:MM[:SS[.ffffff]]"


class FileNameError(ValueError):
    """The file name is not ``<포장실|이적|검사>작업이벤트로그_<worker>_<YYYYMMDD>.csv``."""


def parse_file_name(path: str) -> tuple[str, str, str]:
    """(process id, worker, YYYYMMDD) from a work log's name; NFC first (macOS sync gives NFD)."""
    name = unicodedata.normalize("NFC", PurePath(path).name)
    match = FILE_NAME.fullmatch(name)
    if match is None:
        raise FileNameError(
            f"{name}: expected <포장실|이적|검사>작업이벤트로그_<worker>_<YYYYMMDD>.csv"
        )
    prefix, worker, day = match.groups()
    return PROCESSES[prefix], worker, day


class WorkParser:
    """Rows ``timestamp, worker|worker_name, event, details`` → WorkEvents of one process."""

    name = "work"

    def __init__(self, path: str, max_line_bytes: int = 1_000_000) -> None:
        self.process, self.worker, self.day = parse_file_name(path)
        self.max_line_bytes = max_line_bytes
        self.header: list[str] | None = None
        self.header_error = False
        self._cols: tuple[int, int, int, int | None] = (0, 0, 0, None)

    def prime(self, first_line: Line) -> None:
        self._take_header(first_line)

    def _take_header(self, line: Line) -> LineError | None:
        text = decode_line(line.raw, first=line.offset == 0)
        if text is None:
            self.header_error = True
            return undecodable(line)
        names = [c.strip().lower() for c in next(csv.reader([text]), [])]
        self.header = names
        missing = [n for n in REQUIRED if n not in names]
        if missing:
            self.header_error = True
            return LineError(
                line.number,
                line.offset,
                f"header must name timestamp, event and details; missing {', '.join(missing)}",
                cut_raw(text),
            )
        worker = names.index("worker") if "worker" in names else None
        if worker is None and "worker_name" in names:
            worker = names.index("worker_name")
        self._cols = (
            names.index("timestamp"),
            names.index("event"),
            names.index("details"),
            worker,
        )
        return None

    def parse(self, lines: list[Line]) -> Parsed:
        out = Parsed()
        for line in lines:
            if line.cut:
                out.errors.append(too_long(line, self.max_line_bytes))
                continue
            if not line.raw.strip():
                continue  # blank lines are ignored
            if self.header is None:
                error = self._take_header(line)
                if error:
                    out.errors.append(error)
                continue
            if self.header_error:
                continue  # reported once at the header; rows cannot be read without it
            self._row(line, out)
        return out

    def _row(self, line: Line, out: Parsed) -> None:
        text = decode_line(line.raw, first=line.offset == 0)
        if text is None:
            out.errors.append(undecodable(line))
            return
        try:
            # Without quotes a CSV row is a plain split, and much cheaper to make.
            fields = text.split(",") if '"' not in text else next(csv.reader([text], strict=True))
        except (csv.Error, StopIteration) as exc:
            out.errors.append(LineError(line.number, line.offset, f"bad CSV: {exc}", cut_raw(text)))
            return
        assert self.header is not None
        if len(fields) != len(self.header):
            out.errors.append(
                LineError(
                    line.number,
                    line.offset,
                    f"expected {len(self.header)} fields, found {len(fields)}",
                    cut_raw(text),
                )
            )
            return
        ts_col, event_col, details_col, worker_col = self._cols
        ts = normalise_ts(fields[ts_col])
        if ts is None:
            out.errors.append(
                LineError(
                    line.number,
                    line.offset,
                    f"bad timestamp {fields[ts_col][:40]!r}: expected {TS_SHAPE}",
                    cut_raw(text),
                )
            )
            return
        worker = fields[worker_col].strip() if worker_col is not None else ""
        try:
            details = parse_details(fields[details_col])
        except DetailsError as exc:
            # The row still counts (the analyzer sees a session without start_time).
            out.errors.append(LineError(line.number, line.offset, str(exc), cut_raw(text)))
            details = {}
        out.records.append(
            contracts.WorkEvent(
                line=line.number,
                ts=ts,
                worker=worker or self.worker,
                process=self.process,
                event=fields[event_col].strip(),
                details=details,
                offset=line.offset,
            )
        )

    def batch(
        self,
        *,
        source: str,
        host: str,
        path: str,
        file_id: str,
        start: int,
        end: int,
        records: list[Any],
    ) -> tuple[str, contracts.Event]:
        event = contracts.WorkBatch(
            source=source,
            host=host,
            path=path,
            file_id=file_id,
            start=start,
            end=end,
            process=self.process,
            worker=self.worker,
            events=records,
        )
        return contracts.work(self.process), event
