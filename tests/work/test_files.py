"""Real log files (UTF-8 with BOM, UTF-8, CP949; malformed lines) through the ingest parser
into the analyzer: KPIs equal the independent pandas calculation of the good rows."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

import pytest

from services.core.contracts import WorkBatch
from tests.work import gen, reference
from tests.work.helpers import kpis, problems, workers, writer

parsers = pytest.importorskip("services.ingest.parsers.work")
base = pytest.importorskip("services.ingest.parsers.base")

PREFIX = {"packing": "포장실", "transfer": "이적", "inspection": "검사"}
KOREAN = {"kim": "김민수", "lee": "이영희", "park": "박지성", "choi": "최유리", "tester": "테스트"}


def _file_bytes(rows: list[gen.Row], variant: int) -> bytes:
    """One log file; the variant picks encoding, worker column and the malformed lines."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    worker_col = ["worker", "worker_name", None][variant % 3]
    out.writerow(["timestamp", *([worker_col] if worker_col else []), "event", "details"])
    for i, r in enumerate(rows):
        cells = [_written_ts(r.ts, i)]
        if worker_col:
            cells.append("" if i % 5 == 0 else r.worker)  # empty cell → the file name's worker
        out.writerow([*cells, r.event, gen.details_text(r)])
        if i == 1:
            buf.write("\n")  # a blank line is ignored
            buf.write("2026-11-02 07:00:00,too,many,fields,here,x\n")  # field count ≠ header
    text = buf.getvalue()
    if variant % 3 == 2:
        data = text.encode("cp949")
    else:
        data = ("\ufeff" if variant % 3 == 0 else "").encode() + text.encode("utf-8")
    return data + b"\xff\xfe\xfa broken bytes line\n"  # neither UTF-8 nor CP949


def _written_ts(ts: str, i: int) -> str:
    """Every other row in the space-separated form without fractions."""
    return ts.replace("T", " ")[:19] if i % 2 else ts


def _lines(data: bytes) -> list[object]:
    lines = []
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if offset < len(data):
            lines.append(base.Line(number=number, offset=offset, raw=raw))
        offset += len(raw) + 1
    return lines


def test_files_through_the_parser_match_pandas(tmp_path: Path) -> None:
    log = gen.generate(seed=11, days=6)
    log.rows = [dataclasses.replace(r, worker=KOREAN[r.worker]) for r in log.rows]
    batches: list[WorkBatch] = []
    parse_errors = 0
    renamed: list[gen.Row] = []
    for variant, (path, rows) in enumerate(sorted(log.files().items())):
        day = path.rsplit("_", 1)[1][:8]
        name = f"{PREFIX[rows[0].process]}작업이벤트로그_{rows[0].worker}_{day}.csv"
        file_path = tmp_path / "watch" / "2026-11-02" / name
        file_path.parent.mkdir(parents=True, exist_ok=True)
        file_path.write_bytes(_file_bytes(rows, variant))
        parser = parsers.WorkParser(str(file_path))
        parsed = parser.parse(_lines(file_path.read_bytes()))
        parse_errors += len(parsed.errors)
        line_of = iter(r.line for r in parsed.records)
        renamed += [
            dataclasses.replace(r, path=str(file_path), line=next(line_of),
                                ts=_written_ts(r.ts, i).replace(" ", "T"))
            for i, r in enumerate(rows)
        ]  # fmt: skip
        for i in range(0, len(parsed.records), 4):
            _, batch = parser.batch(source="work", host="h", path=str(file_path),
                                    file_id=f"f{variant}", start=i, end=i + 4,
                                    records=parsed.records[i : i + 4])  # fmt: skip
            batches.append(batch)
    # per file: the too-many-fields line and the undecodable line
    assert parse_errors >= 2 * len(log.files())
    w = writer(tmp_path / "w.sqlite")
    w.apply(batches)
    frame = reference.sessions_frame(renamed)
    for process in ("all", "packing", "transfer", "inspection"):
        expected = reference.kpis(reference.select(frame, process=process))
        got = kpis(w, process=process)
        for key, value in expected.items():
            assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-9), (process, key)
    assert set(workers(w)) == set(KOREAN.values())
    assert problems(w)["counts"].get("start_time", 0) > 0
