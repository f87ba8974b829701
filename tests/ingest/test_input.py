"""Bad and odd input: encodings, parse errors, huge lines, missing folders, many files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from tests.conftest import wait_for
from tests.ingest.helpers import (
    HEADER,
    parse_errors,
    running_ingest,
    settings_with,
    stored,
    stream_payloads,
    work_events,
    work_name,
    work_row,
    work_source,
)


async def _events(bus: Bus, n: int) -> bool:
    return len(await work_events(bus)) >= n


async def _stored_at_least(bus: Bus, stream: str, n: int) -> bool:
    return await stored(bus, stream) >= n


async def _errors(bus: Bus, n: int) -> bool:
    return len(await parse_errors(bus)) >= n


async def test_cp949_and_bom_files(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    rows = HEADER + "2024-01-05 08:00:00,,TRAY_COMPLETE,품목=사과|CLC=A1\n"
    (folder / work_name("포장실", "김철수")).write_bytes(rows.encode("cp949"))
    (folder / work_name("검사", "이영희")).write_bytes(b"\xef\xbb\xbf" + rows.encode("utf-8"))
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _events(bus, 2), timeout=15)
    events = sorted((e for _, e in await work_events(bus)), key=lambda e: e.process)
    assert [(e.process, e.worker) for e in events] == [
        ("inspection", "이영희"),
        ("packing", "김철수"),
    ]
    assert all(e.details == {"품목": "사과", "CLC": "A1"} for e in events)
    assert await parse_errors(bus) == []


async def test_bad_lines_give_one_parse_error_each_and_the_file_goes_on(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    body = (
        (
            HEADER
            + work_row(0)
            + "2024-01-05 08:00:01,kim,SCAN_OK\n"  # wrong column count
            + "not-a-time,kim,SCAN_OK,\n"  # bad timestamp: skipped
            + '2024-01-05 08:00:03,kim,TRAY_COMPLETE,"{oops"\n'  # bad JSON: kept, details {}
        ).encode()
        + b"2024-01-05 08:00:04,kim,SCAN_OK,\xff\xfe\n"
        + work_row(5).encode()
    )
    log.write_bytes(body)
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: _errors(bus, 4), timeout=15)
        await wait_for(lambda: _events(bus, 3), timeout=15)
        counters = files.tailers[0].counters
        assert counters.errors == 4 and counters.records == 3
    errors = sorted(await parse_errors(bus), key=lambda e: e.line)
    assert [e.line for e in errors] == [3, 4, 5, 6]
    assert all(e.path == str(log) and e.source == "work" for e in errors)
    assert "expected 4 fields" in errors[0].reason and "timestamp" in errors[1].reason
    assert errors[1].raw.startswith("not-a-time")
    events = [e for _, e in await work_events(bus)]
    assert [(e.line, e.details) for e in events][1] == (5, {})
    assert [e.line for e in events] == [2, 5, 7]


async def test_a_50_mb_line_is_cut_not_loaded(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    log = folder / work_name()
    with log.open("wb") as f:
        f.write((HEADER + work_row(0)).encode())
        f.write(b"2024-01-05 08:00:00,kim,SCAN_OK," + b"x" * 50_000_000 + b"\n")
        f.write(work_row(2).encode())
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus):
        await wait_for(lambda: _events(bus, 2), timeout=30)
        await wait_for(lambda: _errors(bus, 1), timeout=15)
    (error,) = await parse_errors(bus)
    assert error.line == 3 and "longer than 1,000,000 bytes" in error.reason
    assert len(error.raw) <= 2000
    assert [e.line for _, e in await work_events(bus)] == [2, 4]


async def test_folder_that_appears_later(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "not-yet" / "watch"
    settings = settings_with(make_settings, work_source(folder, poll_interval_ms=100))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: files.tailers[0].backfilled.is_set(), timeout=10)
        folder.mkdir(parents=True)
        (folder / work_name()).write_text(HEADER + work_row(0) + work_row(1))
        await wait_for(lambda: _events(bus, 2), timeout=15)
        with (folder / work_name()).open("a") as f:
            f.write(work_row(2))
        await wait_for(lambda: _events(bus, 3), timeout=15)
    assert [e.line for _, e in await work_events(bus)] == [2, 3, 4]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_file_is_reported_and_others_flow(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    locked = folder / work_name(worker="locked")
    locked.write_text(HEADER + work_row(0))
    locked.chmod(0)
    (folder / work_name(worker="open")).write_text(HEADER + work_row(0))
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: _events(bus, 1), timeout=15)
        assert files.tailers[0].counters.errors >= 1


async def test_file_with_a_bad_name_is_skipped_with_a_message(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    (folder / "포장실작업이벤트로그.csv").write_text(HEADER + work_row(0))
    (folder / work_name()).write_text(HEADER + work_row(0))
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: _events(bus, 1), timeout=15)
        await wait_for(lambda: files.tailers[0].backfilled.is_set(), timeout=10)
        assert files.tailers[0].counters.errors == 1
        await wait_for(lambda: _errors(bus, 1), timeout=10)
    (error,) = await parse_errors(bus)
    assert error.line == 0 and "포장실작업이벤트로그.csv: expected" in error.reason


async def test_ten_thousand_files_backfill_with_progress(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    for i in range(10_000):
        sub = folder / f"2024-01-{i % 28 + 1:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / work_name(worker=f"w{i}")).write_text(HEADER + work_row(i, f"w{i}"))
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: files.tailers[0].backfilled.is_set(), timeout=240)
        await wait_for(lambda: _stored_at_least(bus, "VIGIL_WORK", 10_000), timeout=30)
    events = await work_events(bus)
    assert len(events) == 10_000
    assert len({(b.file_id, e.offset) for b, e in events}) == 10_000
    assert len({e.worker for _, e in events}) == 10_000
    progress = [
        bus.codec.decode_as(d, contracts.IngestProgress)
        for d in await stream_payloads(bus, "VIGIL_FILES", "vigil.progress.>")
    ]
    assert progress[0].files_total == 10_000 and not progress[0].done
    assert progress[-1].done and progress[-1].files_done == 10_000
    assert progress[-1].bytes_done == progress[-1].bytes_total > 0


async def test_file_changed_events_and_counters_metric(
    tmp_path: Path, bus: Bus, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    settings = settings_with(make_settings, work_source(folder))
    async with running_ingest(settings, bus) as files:
        await wait_for(lambda: files.tailers[0].backfilled.is_set(), timeout=10)
        log = folder / work_name()
        log.write_text(HEADER + work_row(0))
        await wait_for(lambda: _events(bus, 1), timeout=15)
        log.unlink()

        async def kinds() -> set[str]:
            payloads = await stream_payloads(bus, "VIGIL_FILES", "vigil.fs.>")
            return {bus.codec.decode_as(d, contracts.FileChanged).kind for d in payloads}

        await wait_for(lambda: _has(kinds, {"added", "deleted"}), timeout=15)
    metrics = [
        bus.codec.decode_as(d, contracts.MetricBatch)
        for d in await stream_payloads(bus, "VIGIL_METRIC", "vigil.metric.testhost.ingest")
    ]
    samples = {(s.name, s.labels["source"]): s.value for s in metrics[-1].samples}
    assert samples[("ingest.records", "work")] == 1
    assert samples[("ingest.batches", "work")] == 1
    assert samples[("ingest.bytes", "work")] == len((HEADER + work_row(0)).encode())


async def _has(kinds: Callable[..., object], wanted: set[str]) -> bool:
    found = await kinds()  # type: ignore[misc]
    return wanted <= found
