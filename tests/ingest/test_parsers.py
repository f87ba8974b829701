"""The parsers on their own: DESIGN §3 edge rules, encodings, CSV/JSON Lines/regex logs."""

from __future__ import annotations

import pytest

from services.core.config.ingest import SourceSettings
from services.ingest.parsers import FileNameError, Line, make_parser
from services.ingest.parsers.details import DetailsError, parse_details
from services.ingest.parsers.generic import sniff_delimiter
from services.ingest.parsers.timestamps import normalise_ts
from services.ingest.parsers.work import WorkParser, parse_file_name


def lines(*raw: bytes) -> list[Line]:
    out, offset = [], 0
    for number, r in enumerate(raw, 1):
        out.append(Line(number, offset, r))
        offset += len(r) + 1
    return out


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-01-05 08:30", "2024-01-05T08:30:00"),
        ("2024-01-05T08:30:15", "2024-01-05T08:30:15"),
        ("2024-01-05 08:30:15.5", "2024-01-05T08:30:15.500000"),
        ("2024-01-05 08:30:15.123456", "2024-01-05T08:30:15.123456"),
        (" 2024-01-05 08:30:15 ", "2024-01-05T08:30:15"),
    ],
)
def test_timestamps_normalise_to_iso(text: str, iso: str) -> None:
    assert normalise_ts(text) == iso


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30 10:00",
        "2024-01-05 25:00",
        "05/01/2024 10:00",
        "2024-01-05",
        "",
        "2024-01-05 10:00:00Z",
        "2024-01-05 10:00:00.1234567",
    ],
)
def test_bad_timestamps_are_rejected(text: str) -> None:
    assert normalise_ts(text) is None


def test_zone_only_where_allowed() -> None:
    assert normalise_ts("2024-01-05T10:00:00Z", allow_zone=True) == "2024-01-05T10:00:00+00:00"
    assert normalise_ts("2024-01-05T10:00:00+0900", allow_zone=True) == "2024-01-05T10:00:00+09:00"


def test_details_forms() -> None:
    assert parse_details('{"start_time": "2024-01-05 08:00", "n": 3}') == {
        "start_time": "2024-01-05 08:00",
        "n": 3,
    }
    assert parse_details("PHS=1|CLC=A123|NOTE=a=b") == {"PHS": "1", "CLC": "A123", "NOTE": "a=b"}
    assert parse_details("just text") == {}
    assert parse_details("") == {}
    with pytest.raises(DetailsError):
        parse_details("{not json")
    with pytest.raises(DetailsError):
        parse_details("{}  [1]")


def test_file_names() -> None:
    assert parse_file_name("/x/포장실작업이벤트로그_kim_20240105.csv") == (
        "packing",
        "kim",
        "20240105",
    )
    assert parse_file_name("이적작업이벤트로그_홍_길동_20240105.csv") == (
        "transfer",
        "홍_길동",
        "20240105",
    )
    nfd = "검사작업이벤트로그_lee_20240105.csv".encode().decode()
    import unicodedata

    assert parse_file_name(unicodedata.normalize("NFD", nfd))[0] == "inspection"
    with pytest.raises(FileNameError):
        parse_file_name("포장실작업이벤트로그.csv")
    with pytest.raises(FileNameError):
        parse_file_name("창고작업이벤트로그_kim_20240105.csv")


def test_work_rows_edge_rules() -> None:
    parser = WorkParser("포장실작업이벤트로그_kim_20240105.csv")
    out = parser.parse(
        lines(
            b"\xef\xbb\xbftimestamp,worker_name,event,details",
            b'2024-01-05 08:00:00,,TRAY_COMPLETE,"{""start_time"": ""2024-01-05 07:58""}"',
            b"",
            b"2024-01-05 08:01:00,park,SCAN_OK,PHS=1|CLC=A1\r",
            b"2024-01-05 08:02:00,park,SCAN_OK",
            b"2024-13-05 08:03:00,park,SCAN_OK,",
            b"2024-01-05 08:04:00,park,TRAY_COMPLETE,{bad json",
            "2024-01-05 08:05:00,김,ERROR_X,메모=한글".encode("cp949"),
            b"2024-01-05 08:06:00,park,SCAN_OK,\xff\xfe\xfa\xfb",
        )
    )
    assert [(e.line, e.worker, e.event) for e in out.records] == [
        (2, "kim", "TRAY_COMPLETE"),
        (4, "park", "SCAN_OK"),
        (7, "park", "TRAY_COMPLETE"),
        (8, "김", "ERROR_X"),
    ]
    assert out.records[0].details == {"start_time": "2024-01-05 07:58"}
    assert out.records[1].details == {"PHS": "1", "CLC": "A1"}
    assert out.records[2].details == {}  # bad JSON: still a row, and an error
    assert out.records[3].details == {"메모": "한글"}
    reasons = {e.line: e.reason for e in out.errors}
    assert set(reasons) == {5, 6, 7, 9}
    assert "expected 4 fields, found 3" in reasons[5]
    assert "bad timestamp" in reasons[6]
    assert "JSON" in reasons[7]
    assert "neither UTF-8 nor CP949" in reasons[9]


def test_work_header_must_name_required_columns() -> None:
    parser = WorkParser("포장실작업이벤트로그_kim_20240105.csv")
    out = parser.parse(lines(b"time,worker,event", b"2024-01-05 08:00:00,kim,SCAN_OK"))
    assert out.records == []
    assert len(out.errors) == 1 and "missing timestamp, details" in out.errors[0].reason


def test_work_without_worker_column_uses_file_name() -> None:
    parser = WorkParser("검사작업이벤트로그_lee_20240105.csv")
    out = parser.parse(lines(b"timestamp,event,details", b"2024-01-05 08:00,SCAN_OK,"))
    assert out.records[0].worker == "lee" and out.records[0].ts == "2024-01-05T08:00:00"


def test_work_parser_primed_with_header_when_resuming() -> None:
    parser = WorkParser("포장실작업이벤트로그_kim_20240105.csv")
    parser.prime(Line(1, 0, b"timestamp,event,worker,details"))
    out = parser.parse([Line(7, 300, b"2024-01-05 08:00,SCAN_OK,choi,")])
    assert out.records[0].worker == "choi" and out.records[0].line == 7
    assert out.records[0].offset == 300


def test_cut_lines_become_errors() -> None:
    parser = WorkParser("포장실작업이벤트로그_kim_20240105.csv", max_line_bytes=10)
    out = parser.parse(
        [Line(1, 0, b"timestamp,worker,event,details"), Line(2, 31, b"x" * 10, cut=True)]
    )
    assert "longer than 10 bytes" in out.errors[0].reason


def test_csv_parser_sniffs_delimiter_and_timestamp() -> None:
    assert sniff_delimiter("a;b;c") == ";" and sniff_delimiter("a\tb") == "\t"
    assert sniff_delimiter("single") == ","
    parser = make_parser(SourceSettings(parser="csv"), "x.csv")
    out = parser.parse(
        lines(
            b"Time;level;msg",
            b"2024-01-05 10:00:00;INFO;started",
            b"2024-01-05 10:00:01;WARN",
            b"yesterday;INFO;x",
        )
    )
    assert out.records[0].fields == {
        "Time": "2024-01-05 10:00:00",
        "level": "INFO",
        "msg": "started",
    }
    assert out.records[0].ts == "2024-01-05T10:00:00"
    assert [e.line for e in out.errors] == [3, 4]


def test_jsonl_parser() -> None:
    parser = make_parser(SourceSettings(parser="jsonl"), "x.jsonl")
    out = parser.parse(
        lines(b'{"ts": "2024-01-05T10:00:00Z", "msg": "a"}', b"[1, 2]", b"{oops", b'{"msg": "b"}')
    )
    assert [r.fields.get("msg") for r in out.records] == ["a", "b"]
    assert out.records[0].ts == "2024-01-05T10:00:00+00:00" and out.records[1].ts is None
    assert [e.line for e in out.errors] == [2, 3]


def test_regex_parser() -> None:
    source = SourceSettings(parser="regex", regex=r"(?P<ts>\S+ \S+) \[(?P<level>\w+)\] (?P<msg>.*)")
    parser = make_parser(source, "app.log")
    out = parser.parse(lines(b"2024-01-05 10:00:00 [INFO] hello world", b"garbage"))
    assert out.records[0].fields == {
        "ts": "2024-01-05 10:00:00",
        "level": "INFO",
        "msg": "hello world",
    }
    assert out.records[0].ts == "2024-01-05T10:00:00"
    assert out.errors[0].line == 2 and "does not match" in out.errors[0].reason
    with pytest.raises(ValueError, match="does not compile"):
        make_parser(SourceSettings(parser="regex", regex="(?P<x"), "a.log")
    with pytest.raises(ValueError, match="named groups"):
        make_parser(SourceSettings(parser="regex", regex=".*"), "a.log")
    with pytest.raises(ValueError, match="parser must be one of"):
        make_parser(SourceSettings(parser="xml"), "a.log")


def test_quoted_cells_and_unbalanced_quotes() -> None:
    parser = WorkParser("포장실작업이벤트로그_kim_20240105.csv")
    out = parser.parse(
        lines(
            b"timestamp,worker,event,details",
            b'2024-01-05 08:00:00,"kim, jr",SCAN_OK,"A=1|B=x,y"',
            b'2024-01-05 08:00:01,kim,SCAN_OK,"A=1',
        )
    )
    assert [(e.worker, e.details) for e in out.records] == [("kim, jr", {"A": "1", "B": "x,y"})]
    assert out.errors[0].line == 3 and "bad CSV" in out.errors[0].reason
