"""Read only new bytes: complete lines from an offset, bounded by bytes, records and line length."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ingest.parsers import Line
from services.ingest.parsers.base import MAX_RAW_CHARS
from services.ingest.tail.identity import TAIL_BYTES, pread, read_tail_digest, tail_digest

SCAN_CHUNK = 1 << 20  # how far a too-long line is skipped per read (never loaded whole)
CUT_KEEP = MAX_RAW_CHARS * 4  # bytes of a too-long line kept for its ParseError


@dataclass(slots=True)
class Chunk:
    """Complete lines read from ``start``; ``end`` is just past the last newline consumed."""

    start: int
    end: int
    next_line: int
    lines: list[Line] = field(default_factory=list)
    tail: str = ""

    @property
    def size(self) -> int:
        return self.end - self.start


def read_chunk(
    fd: int,
    start: int,
    line_before: int,
    limit: int,
    *,
    max_bytes: int,
    max_records: int,
    max_line: int,
) -> Chunk:
    """Complete lines in [start, limit); a partial last line waits for its newline."""
    want = min(max(max_bytes, max_line + 1), limit - start)
    if want <= 0:
        return Chunk(start, start, line_before)
    data = pread(fd, want, start)
    last_newline = data.rfind(b"\n")
    if last_newline < 0:
        if len(data) > max_line:
            return _skip_long_line(fd, start, line_before, limit, data)
        return Chunk(start, start, line_before)
    parts = data[: last_newline + 1].split(b"\n")
    parts.pop()  # the empty tail after the last newline
    if len(parts) > max_records:
        del parts[max_records:]
    lines: list[Line] = []
    offset = start
    number = line_before
    for raw in parts:
        number += 1
        if len(raw) > max_line:
            lines.append(Line(number, offset, raw[:CUT_KEEP], cut=True))
        else:
            lines.append(Line(number, offset, raw))
        offset += len(raw) + 1
    consumed = offset - start
    # The bytes before the new offset prove later that the file was not rewritten.
    tail = (
        tail_digest(data[consumed - TAIL_BYTES : consumed])
        if consumed >= TAIL_BYTES
        else read_tail_digest(fd, offset)
    )
    return Chunk(start, offset, number, lines, tail)


def _skip_long_line(fd: int, start: int, line_before: int, limit: int, head: bytes) -> Chunk:
    """A line longer than the limit: find its end chunk by chunk; report it cut."""
    position = start + len(head)
    while position < limit:
        block = pread(fd, min(SCAN_CHUNK, limit - position), position)
        if not block:
            break
        newline = block.find(b"\n")
        if newline >= 0:
            end = position + newline + 1
            line = Line(line_before + 1, start, head[:CUT_KEEP], cut=True)
            return Chunk(start, end, line_before + 1, [line], read_tail_digest(fd, end))
        position += len(block)
    return Chunk(start, start, line_before)  # its newline has not been written yet
