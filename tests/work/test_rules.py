"""Every edge rule of DESIGN §3, pinned on a real SQLite file through the writer and queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.work import views
from services.analyzer.work.filters import FilterError, parse_filter
from tests.work.helpers import event_batch, kpis, problems, tray, view, workers, writer

D = "2026-11-04"  # a Wednesday


def t(hms: str, day: str = D) -> str:
    return f"{day} {hms}"


def test_latency_rules(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    # arrives out of order: the 09:00 session first, then the 08:00 one before it
    w.apply([tray("packing", "kim", t("09:00:00"), t("09:05:00"), 3, work_time=300)])
    w.apply([tray("packing", "kim", t("08:00:00"), t("08:10:00"), 2, work_time=600)])
    # overlap: starts before the previous end → latency 0
    w.apply([tray("packing", "kim", t("09:04:00"), t("09:20:00"), 4, work_time=900)])
    # over an hour: counted per session, not in avg_latency
    w.apply([tray("packing", "kim", t("11:00:00"), t("11:05:00"), 5, work_time=300)])
    # another worker and another process do not interleave with kim's
    w.apply([tray("packing", "lee", t("08:30:00"), t("08:35:00"), 2, path="l.csv")])
    w.apply([tray("transfer", "kim", t("08:20:00"), t("08:25:00"), 2, path="x.csv")])
    # kim packing latencies: 0 (first), 50 min = 3000 s, 0 (overlap), 100 min = 6000 s (> 1 h)
    got = workers(w, process="packing")["kim"]
    assert got["avg_latency"] == pytest.approx((0 + 3000 + 0) / 3)
    assert kpis(w, process="transfer")["avg_latency"] == 0
    lee = workers(w, process="packing")["lee"]
    assert lee["avg_latency"] == 0


def test_latency_is_computed_before_the_date_filter(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    d3 = "2026-11-03"
    w.apply([tray("packing", "kim", t("07:00:00", d3), t("07:10:00", d3), 2)])
    w.apply([tray("packing", "kim", t("07:20:00"), t("07:30:00"), 3)])  # next day: > 1 h gap
    w.apply([tray("packing", "kim", t("06:50:00", d3), t("06:55:00", d3), 1)])  # arrives last
    # the first session inside the filter (07:00 on the 3rd) keeps its real latency (5 min)
    day3 = kpis(w, process="packing", date_from=d3, date_to=d3)
    assert day3["total_trays"] == 2 and day3["avg_latency"] == pytest.approx((0 + 300) / 2)
    only_0700 = kpis(w, process="packing", date_from=d3, date_to=d3, ship_from="2000-01-01")
    assert only_0700["total_trays"] == 0  # no shipping dates: the filter drops them all


def test_all_pools_processes_with_transfer_weights_and_defect_rate(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", t("08:00"), t("08:05"), 2, work_time=300, defective_count=1)])
    w.apply([tray("inspection", "lee", t("08:00"), t("08:05"), 2, path="i.csv", work_time=200,
                  good_count=38, defective_count=2)])  # fmt: skip
    w.apply([tray("transfer", "park", t("08:00"), t("08:05"), 2, path="t.csv", work_time=100,
                  scan_count=60)])  # fmt: skip
    pooled = kpis(w, process="all")
    assert pooled["total_trays"] == 3 and pooled["total_pcs"] == 60 + 40 + 60
    assert pooled["avg_defect_rate"] == pytest.approx(3 / 160)  # inspection present
    assert kpis(w, process="packing")["avg_defect_rate"] == 0
    assert kpis(w, process="inspection")["avg_defect_rate"] == pytest.approx(2 / 40)
    table = workers(w, process="all")
    # transfer weights: work time↓1.0, latency↓1.0 (equal: .5), fpy↑0.7 (equal), std↓1.0
    expected_park = 100 * (1.0 * 1 + 1.0 * 0.5 + 0.7 * 0.5 + 1.0 * 0.5) / 3.7
    assert table["park"]["overall_score"] == pytest.approx(expected_park)
    assert table["kim"]["defect_rate"] == 0 and table["lee"]["defect_rate"] == pytest.approx(0.05)


def test_fpy_per_worker_counts_every_session_avg_fpy_does_not(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", t("08:00"), t("08:05"), 2, had_error=True, is_test=True)])
    w.apply([tray("packing", "kim", t("09:00"), t("09:05"), 3, had_error="y", is_partial="1")])
    w.apply([tray("packing", "kim", t("10:00"), t("10:05"), 4, has_error_or_reset=1,
                  is_restored_session="true")])  # fmt: skip
    w.apply([tray("packing", "kim", t("11:00"), t("11:05"), 5, had_error=False)])
    w.apply([tray("packing", "kim", t("12:00"), t("12:05"), 6, had_error="yes")])
    assert workers(w, process="packing")["kim"]["first_pass_yield"] == pytest.approx(1 - 4 / 5)
    assert kpis(w, process="packing")["avg_fpy"] == pytest.approx(0.5)


def test_empty_set(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    got = kpis(w, process="packing")
    assert got["total_trays"] == 0 and got["avg_tray_time"] == 0 and got["avg_fpy"] == 1.0
    assert got["weekly_avg_errors"] == 0 and workers(w) == {}


def test_work_time_std_is_sample_std(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("transfer", "kim", t("08:00"), t("08:05"), 2, work_time=100, scan_count=60)])
    assert workers(w, process="transfer")["kim"]["work_time_std"] == 0
    w.apply([tray("transfer", "kim", t("09:00"), t("09:05"), 3, work_time=200, scan_count=60)])
    w.apply([tray("transfer", "kim", t("10:00"), t("10:05"), 4, work_time=600, scan_count=60)])
    # sample std of 100, 200, 600 = sqrt(((−200)² + (−100)² + 300²) / 2)
    assert workers(w, process="transfer")["kim"]["work_time_std"] == pytest.approx(
        (140000 / 2) ** 0.5
    )


@pytest.mark.parametrize(
    ("last_day", "divisor"),
    [("2026-11-06", 1), ("2026-11-10", 1), ("2026-11-16", 2), ("2026-11-09", 1)],
)
def test_weekly_avg_errors_uses_calendar_days(
    tmp_path: Path, last_day: str, divisor: float
) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", t("08:00", "2026-11-03"), t("08:05", "2026-11-03"), 2,
                  process_errors=4)])  # fmt: skip
    w.apply([tray("packing", "kim", t("08:00", last_day), t("08:05", last_day), 3,
                  error_count="3")])  # fmt: skip
    got = kpis(w, process="packing")
    span = got["days"]
    expected = 7 / (span / 7) if span >= 7 else 7
    assert got["weekly_avg_errors"] == pytest.approx(expected)
    assert got["total_errors"] == 7 and (divisor == 2) == (span == 14)


def test_best_work_time(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    clean = {"work_time": 0}

    def add(day: str, hms: str, line: int, wt: float, **extra: object) -> None:
        w.apply([tray("packing", "kim", t(hms, day), t(hms, day).replace(":0", ":5", 1), line,
                      **{**clean, "work_time": wt, **extra})])  # fmt: skip

    # as_of = Wednesday 2026-11-04; week = Mon 11-02 … 11-04; last 7 days = 10-28 … 11-04
    add("2026-10-28", "08:00", 1, 1000)  # in the 7-day mean, not in this week
    add("2026-11-02", "08:00", 2, 400)
    add("2026-11-03", "08:00", 3, 390, had_error=True)  # not clean
    add("2026-11-03", "09:00", 4, 300, is_test=True)  # not clean
    add("2026-11-03", "10:00", 5, 100)  # clean but below the floor (180 s)
    add("2026-11-04", "08:00", 6, 400)  # tie with 11-02: the earliest wins (same value)
    add("2026-11-05", "08:00", 7, 200)  # after as_of
    # clean mean of the last 7 days = (1000 + 400 + 100 + 400) / 4 = 475; 0.6 × 475 = 285 > 180
    got = workers(w, process="packing", as_of="2026-11-04", date_from="2026-11-05")
    assert got["kim"]["best_work_time"] == 400  # the date filter does not restrict it
    assert workers(w, process="packing", as_of="2026-10-20")["kim"]["best_work_time"] is None
    # Sunday 11-01: its week started Monday 10-26, so the 10-28 session (1000 s) is this week's
    assert workers(w, process="packing", as_of="2026-11-01")["kim"]["best_work_time"] == 1000


def test_error_log_any_case_filtered_by_event_date_and_worker(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    for i, (worker, day, name) in enumerate(
        [
            ("kim", D, "SCAN_ERROR"),
            ("kim", D, "print_fail"),
            ("lee", D, "Tray_Cancel"),
            ("kim", "2026-11-05", "error"),
            ("kim", D, "SCAN_OK"),
        ]
    ):
        w.apply([event_batch("packing", worker, t("08:00:00", day), name, {"c": i}, i + 2,
                             f"{worker}.csv")])  # fmt: skip
    got = view(w, views.error_log, process="packing", date_from=D, date_to=D, workers="kim")
    assert got["total"] == 2 and {e["event"] for e in got["entries"]} == {
        "SCAN_ERROR",
        "print_fail",
    }
    assert view(w, views.error_log, process="all")["total"] == 4


def test_items_group_by_code_with_first_non_empty_name(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", t("09:00"), t("09:05"), 3, CLC="A1", item_name="Late")])
    w.apply([tray("packing", "kim", t("08:00"), t("08:05"), 2, item_code="A1", item_name="")])
    w.apply([tray("packing", "kim", t("07:00"), t("07:05"), 1, CLC="A1", item_name="Early")])
    w.apply([tray("packing", "kim", t("10:00"), t("10:05"), 4)])  # no item, no work time
    items = {i["item_code"]: i for i in view(w, views.items_by_day, process="packing")["items"]}
    assert items["A1"]["item_name"] == "Early" and items["A1"]["trays"] == 3
    assert items["N/A"]["trays"] == 1 and items["N/A"]["pcs"] == 60
    # zero-work-time trays without an item are real trays
    assert kpis(w, process="packing")["total_trays"] == 4


def test_shipping_filter_drops_sessions_without_date_and_is_inclusive(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", t("08:00"), t("08:05"), 2, OBD="20261110")])
    w.apply([tray("packing", "kim", t("09:00"), t("09:05"), 3, shipping_date="2026-11-12")])
    w.apply([tray("packing", "kim", t("10:00"), t("10:05"), 4)])
    assert kpis(w, process="packing")["total_trays"] == 3
    assert kpis(w, ship_from="2026-11-10", ship_to="2026-11-12")["total_trays"] == 2
    assert kpis(w, ship_from="2026-11-11")["total_trays"] == 1
    assert kpis(w, date_from=D, date_to=D)["total_trays"] == 3


def test_test_workers_and_name_corrections_from_config(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite", test_workers=["tester"], worker_aliases={"Kim": "kim"})
    w.apply([tray("packing", "Kim", t("08:00"), t("08:05"), 2, path="a.csv")])
    w.apply([tray("packing", "kim", t("09:00"), t("09:05"), 2, path="b.csv")])
    w.apply([tray("packing", "tester", t("09:00"), t("09:05"), 2, path="c.csv")])
    table = workers(w)
    assert set(table) == {"kim"} and table["kim"]["session_count"] == 2
    assert table["kim"]["avg_latency"] == pytest.approx(55 * 60 / 2)  # one timeline, both names
    assert kpis(w)["total_trays"] == 2


def test_bad_input_is_counted_and_nothing_else_is_lost(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    w.apply([tray("packing", "kim", "", t("08:05"), 2)])  # no start_time
    w.apply([tray("packing", "kim", "08:00", t("08:05"), 3)])  # bad start_time
    w.apply([tray("packing", "kim", t("08:00"), t("08:05"), 4, work_time="fast")])  # bad number
    w.apply([event_batch("packing", "kim", "yesterday", "TRAY_COMPLETE", {}, 5)])  # bad row ts
    w.apply([tray("paint", "kim", t("08:00"), t("08:05"), 2, path="p.csv")])  # unknown process
    counts = problems(w)["counts"]
    assert counts == {"start_time": 2, "number": 1, "timestamp": 1}
    assert problems(w)["unknown_process"] == 1
    got = kpis(w, process="packing")
    assert got["total_trays"] == 1 and got["avg_tray_time"] == 0


def test_equal_workers_score_fifty(tmp_path: Path) -> None:
    w = writer(tmp_path / "w.sqlite")
    for i, name in enumerate(["a", "b", "c"]):
        w.apply([tray("inspection", name, t("08:00"), t("08:05"), 2, path=f"{i}.csv",
                      work_time=300, good_count=60)])  # fmt: skip
    assert {r["overall_score"] for r in workers(w, process="inspection").values()} == {50.0}


@pytest.mark.parametrize(
    ("params", "param"),
    [({"process": "paint"}, "process"), ({"date_from": "2026-11-05", "date_to": "2026-11-01"},
     "date_to"), ({"date_from": "05/11/2026"}, "date_from"), ({"ship_to": "2026-02-30"}, "ship_to"),
     ({"as_of": "tomorrow"}, "as_of")],
)  # fmt: skip
def test_bad_filters_name_the_parameter(params: dict[str, str], param: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(params)
    assert info.value.param == param and param in str(info.value)


def test_zoned_row_time_and_huge_counts_are_problems_not_a_failed_batch(tmp_path: Path) -> None:
    """A 26-character zoned time ("...00.1+0900") and a count SQLite cannot hold are parse
    problems; the batch around them still counts (before, both failed the whole batch)."""
    w = writer(tmp_path / "w.sqlite")
    batch = event_batch("packing", "kim", "2026-11-04T08:05:00.1+0900", "SCAN_OK", {}, 2)
    ok = tray("packing", "kim", t("08:00"), t("08:05"), 3, error_count=10**30)
    w.apply([batch, ok])
    assert problems(w)["counts"] == {"timestamp": 1, "number": 1}
    got = kpis(w, process="packing")
    assert (got["total_trays"], got["total_errors"]) == (1, 0)
