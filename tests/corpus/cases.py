"""The bad-input corpus: files built at test time (some names cannot live in git), each with
the lines that must be counted and the lines that must be reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HEADER = b"timestamp,worker,event,details\n"
GOOD = '2026-11-21 08:{m:02d}:{s:02d},김민준,SCAN_OK,"{{""barcode"": ""C{n}""}}"\n'


def good(n: int) -> bytes:
    return GOOD.format(m=n // 60 % 60, s=n % 60, n=n).encode()


@dataclass
class Case:
    """One corpus file: its bytes, and which line numbers are good and which are bad."""

    name: str
    data: bytes
    good_lines: set[int]
    bad_lines: set[int]
    # Lines published AND reported (bad details JSON keeps the row).
    kept_with_error: set[int] = field(default_factory=set)


def _file(name: str, rows: list[tuple[bytes, str]]) -> Case:
    """rows: (bytes, kind) with kind in good | bad | kept; line 1 is the header."""
    data = HEADER + b"".join(r for r, _ in rows)
    lines = {i + 2: kind for i, (_, kind) in enumerate(rows)}
    return Case(
        name=name,
        data=data,
        good_lines={n for n, k in lines.items() if k in {"good", "kept"}},
        bad_lines={n for n, k in lines.items() if k in {"bad", "kept"}},
        kept_with_error={n for n, k in lines.items() if k == "kept"},
    )


def build_cases() -> list[Case]:
    day = "20261121"
    long_worker = "가" * 70  # 210 bytes of name: near the 255-byte limit of most file systems
    return [
        _file(f"포장실작업이벤트로그_정상_{day}.csv", [(good(i), "good") for i in range(20)]),
        _file(
            f"포장실작업이벤트로그_잡음_{day}.csv",
            [
                (good(1), "good"),
                (b"\x00\x01\x02\xff\xfe\xfd binary junk\n", "bad"),
                (good(2), "good"),
                (bytes(range(128, 256)) + b"\n", "bad"),
                (good(3), "good"),
            ],
        ),
        _file(
            f"포장실작업이벤트로그_열수_{day}.csv",
            [
                (good(1), "good"),
                (b"2026-11-21 08:00:01,kim,SCAN_OK\n", "bad"),
                (b"2026-11-21 08:00:02,kim,SCAN_OK,{},extra,cols\n", "bad"),
                (good(2), "good"),
            ],
        ),
        _file(
            f"포장실작업이벤트로그_시간_{day}.csv",
            [
                (b"2026-13-45 99:00:00,kim,SCAN_OK,{}\n", "bad"),
                (b"yesterday,kim,SCAN_OK,{}\n", "bad"),
                (good(5), "good"),
                (b'2026-11-21 08:00:09,kim,SCAN_OK,"{not json"\n', "kept"),
                # Not "{", no "=": details carry no fields, and that is not an error (§3).
                (b'2026-11-21 08:00:10,kim,SCAN_OK,"[1, 2]"\n', "good"),
                (b'2026-11-21 08:00:11,kim,SCAN_OK,"{""a"": 1} tail"\n', "kept"),
            ],
        ),
        _file(
            f"포장실작업이벤트로그_거대_{day}.csv",
            [
                (good(1), "good"),
                (b"2026-11-21 08:00:01,kim,SCAN_OK," + b"x" * 3_000_000 + b"\n", "bad"),
                (good(2), "good"),
            ],
        ),
        _file(
            f"포장실작업이벤트로그_인코딩_{day}.csv",
            [
                ("2026-11-21 08:00:01,이영희,SCAN_OK,{}\n".encode("cp949"), "good"),
                (b"2026-11-21 08:00:02,caf\xe9,SCAN_OK,{}\n", "bad"),
                (good(3), "good"),
            ],
        ),
        _file(f"포장실작업이벤트로그_.._{day}.csv", [(good(1), "good")]),
        _file(f"포장실작업이벤트로그_a\x07b\x1bc_{day}.csv", [(good(1), "good")]),
        _file(f"포장실작업이벤트로그_{long_worker}_{day}.csv", [(good(1), "good")]),
        _file(f"포장실작업이벤트로그_<script>_{day}.csv", [(good(1), "good")]),
        # A truncated file: the last line has no end yet, so it is not emitted (never half a line).
        Case(
            name=f"포장실작업이벤트로그_잘림_{day}.csv",
            data=HEADER + good(1) + good(2)[:20],
            good_lines={2},
            bad_lines=set(),
        ),
    ]


def write_cases(folder: Path) -> list[Case]:
    cases = build_cases()
    for case in cases:
        (folder / case.name).write_bytes(case.data)
    return cases
