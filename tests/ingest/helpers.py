"""Helpers of the ingest tests: work-log files, reading a stream back, running FileIngest."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.tail import FileIngest

HEADER = "timestamp,worker,event,details\n"


def work_name(process: str = "포장실", worker: str = "kim", day: str = "20240105") -> str:
    return f"{process}작업이벤트로그_{worker}_{day}.csv"


def work_row(i: int, worker: str = "kim", event: str = "SCAN_OK") -> str:
    second = i % 60
    minute = (i // 60) % 60
    hour = (i // 3600) % 24
    return f"2024-01-05 {hour:02d}:{minute:02d}:{second:02d},{worker},{event},PHS=1|N={i}\n"


def work_source(folder: Path, **extra: Any) -> dict[str, Any]:
    return {"name": "work", "path": str(folder), "parser": "work", **extra}


async def stream_payloads(bus: Bus, stream: str, subject: str = ">") -> list[bytes]:
    """Every message stored in ``stream`` (optionally under ``subject``), in order."""
    info = await bus.js.stream_info(stream)
    if info.state.messages == 0:
        return []
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, filter_subject=subject
    )
    sub = await bus.js.pull_subscribe(subject, stream=stream, config=config)
    out: list[bytes] = []
    try:
        seen = 0
        while True:
            try:
                msgs = await sub.fetch(5000, timeout=1.0)
            except TimeoutError:
                break
            for msg in msgs:
                out.append(msg.data)
                seen = msg.metadata.sequence.stream
            if seen >= info.state.last_seq:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


async def work_events(bus: Bus) -> list[tuple[contracts.WorkBatch, contracts.WorkEvent]]:
    codec = bus.codec
    out = []
    for data in await stream_payloads(bus, "VIGIL_WORK"):
        batch = codec.decode_as(data, contracts.WorkBatch)
        out.extend((batch, e) for e in batch.events)
    return out


async def log_records(bus: Bus) -> list[tuple[contracts.LogBatch, contracts.LogRecord]]:
    out = []
    for data in await stream_payloads(bus, "VIGIL_LOG"):
        batch = bus.codec.decode_as(data, contracts.LogBatch)
        out.extend((batch, r) for r in batch.records)
    return out


async def parse_errors(bus: Bus) -> list[contracts.ParseError]:
    return [
        bus.codec.decode_as(d, contracts.ParseError)
        for d in await stream_payloads(bus, "VIGIL_FILES", "vigil.error.parse.>")
    ]


async def stored(bus: Bus, stream: str, subject: str | None = None) -> int:
    """How many messages ``stream`` holds (under ``subject``): cheap to poll."""
    info = await bus.js.stream_info(stream, subjects_filter=subject)
    if subject is None:
        return info.state.messages
    return sum((info.state.subjects or {}).values())


@contextlib.asynccontextmanager
async def running_ingest(settings: Settings, bus: Bus) -> AsyncIterator[FileIngest]:
    files = await FileIngest.open(settings, bus)
    try:
        yield files
    finally:
        await files.close()


def settings_with(make_settings: Callable[..., Settings], *sources: dict[str, Any]) -> Settings:
    return make_settings(ingest={"sources": list(sources), "progress_interval_s": 0.1})
