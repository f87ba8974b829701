"""What every parser shares: the line it is given, what it returns, per-line decoding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from services.core import contracts

MAX_RAW_CHARS = 2000  # ParseError.raw is cut to this many characters
BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Line:
    """One complete line of a file: 1-based number, byte offset of its start, bytes without EOL."""

    number: int
    offset: int
    raw: bytes
    cut: bool = False  # longer than max_line_bytes: ``raw`` holds only the start


@dataclass(slots=True)
class LineError:
    """Why one line was rejected (becomes a ParseError event)."""

    line: int
    offset: int
    reason: str
    raw: str = ""


@dataclass(slots=True)
class Parsed:
    """The outcome of parsing some lines: records to publish and errors to report."""

    records: list[Any] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class Parser(Protocol):
    """A stateful parser of one file (a CSV parser remembers the header)."""

    name: str

    def prime(self, first_line: Line) -> None:
        """Learn the header from the file's first line when resuming past it."""

    def parse(self, lines: list[Line]) -> Parsed:
        """Parse complete lines in file order."""

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
        """The subject and the batch event for one read."""


def cut_raw(text: str | bytes) -> str:
    """The raw text of a bad line, bounded, always printable as a str."""
    if isinstance(text, bytes):
        text = text[: MAX_RAW_CHARS * 4].decode("utf-8", "replace")
    return text[:MAX_RAW_CHARS]


def decode_line(raw: bytes, first: bool) -> str | None:
    """UTF-8 (a BOM at the start of the file removed), else CP949; None when neither fits."""
    if first and raw.startswith(BOM):
        raw = raw[3:]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp949")
    except UnicodeDecodeError:
        return None


def undecodable(line: Line) -> LineError:
    return LineError(line.number, line.offset, "line is neither UTF-8 nor CP949", cut_raw(line.raw))


def too_long(line: Line, limit: int) -> LineError:
    return LineError(
        line.number,
        line.offset,
        f"line longer than {limit:,} bytes; cut and skipped",
        cut_raw(line.raw),
    )
