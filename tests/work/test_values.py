"""DESIGN §3 value rules: timestamps, numbers, counts, booleans, first key found wins."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.analyzer.work.sessions import build_session, is_error_event
from services.analyzer.work.values import as_bool, as_count, as_date, as_float, first, parse_ts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02 07:05", datetime(2026, 11, 2, 7, 5)),
        ("2026-11-02T07:05:09", datetime(2026, 11, 2, 7, 5, 9)),
        ("2026-11-02 07:05:09.5", datetime(2026, 11, 2, 7, 5, 9, 500000)),
        ("2026-11-02T07:05:09.123456", datetime(2026, 11, 2, 7, 5, 9, 123456)),
        ("2026-11-02", None),
        ("2026-11-02 7:05", None),
        ("2026-02-30 07:05", None),
        ("2026-11-02T07:05:09+09:00", None),
        ("", None),
        (None, None),
        (12345, None),
    ],
)
def test_timestamps(text: object, expected: datetime | None) -> None:
    assert parse_ts(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (1, True), (2.5, True), (0, False), (False, False), ("1", True),
     ("TRUE", True), ("t", True), ("Yes", True), ("y", True), ("0", False), ("no", False),
     ("2", False), ("", False), (None, False), ([1], False)],
)  # fmt: skip
def test_booleans(value: object, expected: bool) -> None:
    assert as_bool(value) is expected


def test_numbers_and_counts() -> None:
    assert as_float("12.5") == (12.5, True)
    assert as_float(" 7 ") == (7.0, True)
    assert as_float("abc") == (0.0, False)
    assert as_float("nan") == (0.0, False)
    assert as_float(None) == (0.0, True)
    assert as_count("2.9") == (2, True)
    assert as_count(3.99) == (3, True)
    assert as_count("x") == (0, False)


def test_first_present_non_null_key_wins() -> None:
    assert first({"work_time": None, "work_time_sec": 30}, ("work_time", "work_time_sec")) == 30
    assert first({"work_time": 0, "work_time_sec": 30}, ("work_time", "work_time_sec")) == 0
    assert first({}, ("a", "b")) is None


def test_shipping_dates() -> None:
    assert as_date("20261105") == "2026-11-05"
    assert as_date("2026-11-05") == "2026-11-05"
    assert as_date("2026/11/05") == "2026-11-05"
    assert as_date("soon") == ""
    assert as_date(None) == ""


def test_error_events_any_case() -> None:
    assert all(map(is_error_event, ["SCAN_ERROR", "print_fail", "Tray_Cancel", "error"]))
    assert not is_error_event("TRAY_COMPLETE")


def test_session_from_alternative_keys_and_qr_strings() -> None:
    details = {
        "start_time": "2026-11-02 08:00:00", "work_time_sec": "100.5",
        "total_idle_seconds": "3", "error_count": "2.7", "has_error_or_reset": "Y",
        "is_partial_submission": "1", "is_restored_session": "true", "is_test_tray": "no",
        "item_code": "X1", "shipping_date": "20261110", "WID": "WO1", "PHS": "1",
        "SPC": "S", "FPB": "B", "IG": "G", "good_count": "50", "defective_count": "2",
    }  # fmt: skip
    end = datetime(2026, 11, 2, 8, 2)
    built = build_session(
        process="inspection", worker="kim", end=end, details=details, pcs_per_tray=60
    )
    assert not isinstance(built, str)
    row = built.fields
    assert (row["work_time"], row["idle_time"], row["process_errors"]) == (100.5, 3.0, 2)
    assert (row["had_error"], row["is_partial"], row["is_restored"], row["is_test"]) == (1, 1, 1, 0)
    assert (row["item_code"], row["shipping_date"], row["work_order"]) == (
        "X1",
        "2026-11-10",
        "WO1",
    )
    assert (row["pcs"], row["defective"], row["date"], row["eligible"]) == (52, 2, "2026-11-02", 0)
    assert built.bad_fields == []


def test_pcs_per_process_and_bad_numbers() -> None:
    end = datetime(2026, 11, 2, 9)
    base = {"start_time": "2026-11-02 08:59"}

    def pcs(process: str, **d: object) -> tuple[int, list[str]]:
        built = build_session(
            process=process, worker="w", end=end, details={**base, **d}, pcs_per_tray=48
        )
        assert not isinstance(built, str)
        return built.fields["pcs"], built.bad_fields

    assert pcs("packing") == (48, [])
    assert pcs("transfer", scan_count="61.9") == (61, [])
    assert pcs("inspection", good_count=10, defective_count="x") == (
        10,
        ["defective", "defective_count"],
    )
    assert pcs("packing", work_time="fast")[1] == ["work_time"]


def test_missing_or_bad_start_time_is_a_reason() -> None:
    end = datetime(2026, 11, 2, 9)
    assert "missing" in str(build_session(process="packing", worker="w", end=end, details={},
                                          pcs_per_tray=60))  # fmt: skip
    assert "bad start_time" in str(
        build_session(process="packing", worker="w", end=end,
                      details={"start_time": "yesterday"}, pcs_per_tray=60)
    )  # fmt: skip
