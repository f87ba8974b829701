"""KPIs and worker metrics of the incremental analyzer equal an independent pandas calculation."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from tests.work import gen, reference
from tests.work.helpers import dump, kpis, problems, workers, writer

ALIASES = {"choi": "park"}  # a worker-name correction: choi's rows are park's
TEST_WORKERS = ["tester"]


def _close(a: Any, b: Any, what: str) -> None:
    if a is None or b is None:
        assert a == b, what
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9), f"{what}: {a} != {b}"
    else:
        assert a == b, what


@pytest.fixture(scope="module")
def log() -> gen.Log:
    return gen.generate(seed=7, days=16)


@pytest.fixture(scope="module")
def frame(log: gen.Log) -> Any:
    return reference.sessions_frame(log.rows, aliases=ALIASES)


FILTERS: list[dict[str, Any]] = [
    {"process": "all"},
    {"process": "packing"},
    {"process": "transfer", "date_from": "2026-11-05", "date_to": "2026-11-12"},
    {"process": "inspection", "workers": "kim,lee"},
    {"process": "all", "date_from": "2026-11-10", "date_to": "2026-11-10"},
    {"process": "inspection", "ship_from": "2026-11-06", "ship_to": "2026-11-14"},
    {"process": "all", "date_from": "2026-11-03", "workers": "park"},
]


def test_incremental_in_small_shuffled_batches_matches_pandas(
    tmp_path: Path, log: gen.Log, frame: Any
) -> None:
    w = writer(tmp_path / "w.sqlite", worker_aliases=ALIASES, test_workers=TEST_WORKERS)
    for batch in gen.batches(log, size=5, seed=3):
        w.apply([batch])
    for params in FILTERS:
        ref_params = {k: v for k, v in params.items() if k != "workers"}
        wanted = [x for x in params.get("workers", "").split(",") if x]
        expected = reference.kpis(
            reference.select(frame, workers=wanted, test_workers=TEST_WORKERS, **ref_params)
        )
        got = kpis(w, **params)
        for key, value in expected.items():
            _close(got[key], value, f"{params} {key}")


@pytest.mark.parametrize("process", ["packing", "transfer", "inspection", "all"])
def test_worker_table_matches_pandas(
    tmp_path: Path, log: gen.Log, frame: Any, process: str
) -> None:
    w = writer(tmp_path / "w.sqlite", worker_aliases=ALIASES, test_workers=TEST_WORKERS)
    for batch in gen.batches(log, size=9, seed=5):
        w.apply([batch])
    as_of = "2026-11-12"
    params = {"process": process, "date_from": "2026-11-04", "as_of": as_of}
    view = reference.select(frame, process=process, test_workers=TEST_WORKERS)
    subset = reference.select(view, date_from="2026-11-04")
    expected = reference.workers(subset, process, view, as_of)
    got = workers(w, **params)
    assert set(got) == set(expected) and "tester" not in got and "choi" not in got
    for name, metrics in expected.items():
        for key, value in metrics.items():
            _close(got[name][key], value, f"{process} {name} {key}")
    assert any(m["best_work_time"] is not None for m in expected.values())


def test_incremental_equals_from_scratch(tmp_path: Path, log: gen.Log) -> None:
    """Many small appends in a shuffled order end where one big apply in file order does."""
    ordered = gen.batches(log, size=1000)
    ordered.sort(key=lambda b: (b.path, b.start))
    scratch = writer(tmp_path / "scratch.sqlite", worker_aliases=ALIASES)
    scratch.apply(ordered)
    incremental = writer(tmp_path / "inc.sqlite", worker_aliases=ALIASES)
    pieces = gen.batches(log, size=3, seed=11)
    rng = random.Random(2)
    i = 0
    while i < len(pieces):
        step = rng.randint(1, 20)
        incremental.apply(pieces[i : i + step])
        i += step
    assert dump(incremental) == dump(scratch)


def test_redelivery_and_restart_never_double_count(tmp_path: Path, log: gen.Log) -> None:
    pieces = gen.batches(log, size=4, seed=1)
    once = writer(tmp_path / "once.sqlite")
    once.apply(pieces)
    path = tmp_path / "again.sqlite"
    w = writer(path)
    half = len(pieces) // 2
    w.apply(pieces[:half])
    w.apply(pieces[half // 2 : half])  # redelivered
    w.engine.dispose()
    restarted = writer(path)  # a new process: state from the file only
    restarted.apply(pieces[half // 3 :])  # overlaps what is stored
    assert dump(restarted) == dump(once)
    assert problems(restarted)["total"] == problems(once)["total"]


def test_problems_are_counted_not_dropped(tmp_path: Path, log: gen.Log, frame: Any) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply(gen.batches(log, size=50))
    trays = [r for r in log.rows if r.event == "TRAY_COMPLETE"]
    counts = problems(w)["counts"]
    assert counts.get("start_time", 0) == len(trays) - len(reference.sessions_frame(log.rows))
    assert counts.get("start_time", 0) > 0 and counts.get("number", 0) > 0
