"""The bad-input corpus through the real ingest service: every bad line is reported with its
file and line, every good line is published exactly once, and nothing stops."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path, PurePath

from services.core import contracts
from services.core.bus import Bus
from services.core.config import Settings
from services.ingest.service import IngestService
from tests.corpus.cases import write_cases


async def _drain(bus: Bus, stream: str, subjects: str) -> list[bytes]:
    """Everything currently in ``stream`` on ``subjects``."""
    sub = await bus.js.pull_subscribe(subjects, stream=stream)
    out: list[bytes] = []
    while True:
        try:
            msgs = await sub.fetch(500, timeout=1.0)
        except Exception:
            return out
        out += [m.data for m in msgs]
        for m in msgs:
            await m.ack()


async def test_corpus_every_bad_line_reported_every_good_line_counted(
    make_settings: Callable[..., Settings], tmp_path: Path, bus: Bus
) -> None:
    watch = tmp_path / "corpus"
    watch.mkdir()
    cases = write_cases(watch)
    settings = make_settings(ingest={"sources": [{"name": "corpus", "path": str(watch)}]})
    expected_good = {c.name: c.good_lines for c in cases}
    total_good = sum(len(v) for v in expected_good.values())

    published: dict[str, list[int]] = defaultdict(list)
    reported: dict[str, list[int]] = defaultdict(list)
    async with IngestService(settings):
        for _ in range(300):
            published.clear()
            for data in await _drain(bus, "VIGIL_WORK", "vigil.work.>"):
                batch = bus.codec.decode_as(data, contracts.WorkBatch)
                published[PurePath(batch.path).name] += [e.line for e in batch.events]
            if sum(len(v) for v in published.values()) >= total_good:
                break
            await asyncio.sleep(0.1)
        for data in await _drain(bus, "VIGIL_FILES", "vigil.error.parse.>"):
            error = bus.codec.decode_as(data, contracts.ParseError)
            assert error.reason, "a parse error must say why"
            assert len(error.raw) <= 2000, "raw text must be bounded"
            reported[PurePath(error.path).name].append(error.line)

    for case in cases:
        got = published.get(case.name, [])
        assert sorted(got) == sorted(case.good_lines), f"{case.name!r}: published lines {got}"
        assert len(got) == len(set(got)), f"{case.name!r}: a line was published twice"
        bad = set(reported.get(case.name, []))
        assert case.bad_lines <= bad, f"{case.name!r}: unreported bad lines {case.bad_lines - bad}"
        assert not (bad - case.bad_lines), (
            f"{case.name!r}: good lines reported {bad - case.bad_lines}"
        )
