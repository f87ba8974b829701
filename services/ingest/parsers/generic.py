"""Parsers of generic logs (CSV with a header, JSON Lines, regex) that publish LogBatches."""

from __future__ import annotations

import csv
import datetime
import re
from abc import ABC, abstractmethod
from typing import Any

import msgspec

from services.core import contracts
from services.ingest.parsers.base import (
    Line,
    LineError,
    Parsed,
    cut_raw,
    decode_line,
    too_long,
    undecodable,
)
from services.ingest.parsers.timestamps import normalise_ts

TS_NAMES = ("ts", "timestamp", "time", "datetime")
DELIMITERS = (",", ";", "\t", "|")
_json = msgspec.json.Decoder()


class LogParser(ABC):
    """Shared frame: cut lines, blank lines, decoding, timestamp handling, LogBatch building."""

    name = "log"

    def __init__(self, max_line_bytes: int = 1_000_000) -> None:
        self.max_line_bytes = max_line_bytes

    def prime(self, first_line: Line) -> None:
        return None

    def parse(self, lines: list[Line]) -> Parsed:
        out = Parsed()
        for line in lines:
            if line.cut:
                out.errors.append(too_long(line, self.max_line_bytes))
                continue
            if not line.raw.strip():
                continue
            text = decode_line(line.raw, first=line.offset == 0)
            if text is None:
                out.errors.append(undecodable(line))
                continue
            try:
                record = self.record(line, text)
            except ValueError as exc:
                out.errors.append(LineError(line.number, line.offset, str(exc), cut_raw(text)))
                continue
            if record is not None:
                out.records.append(record)
        return out

    @abstractmethod
    def record(self, line: Line, text: str) -> contracts.LogRecord | None:
        """One decoded line as a record (None: nothing to keep); ValueError when it is bad."""

    @staticmethod
    def timestamp(fields: dict[str, Any]) -> str | None:
        """The record's ISO timestamp from its first timestamp-like field; ValueError if bad."""
        for name in TS_NAMES:
            value = fields.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.datetime.fromtimestamp(value).isoformat()
            ts = normalise_ts(str(value), allow_zone=True)
            if ts is None:
                raise ValueError(f"bad timestamp in {name!r}: {str(value)[:40]!r}")
            return ts
        return None

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
        event = contracts.LogBatch(
            source=source,
            host=host,
            path=path,
            file_id=file_id,
            start=start,
            end=end,
            parser=self.name,
            records=records,
        )
        return contracts.log(source), event


def sniff_delimiter(header: str) -> str:
    """The candidate delimiter the header holds most of (a comma when none)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvParser(LogParser):
    """CSV with a header line; the delimiter is sniffed from the header."""

    name = "csv"

    def __init__(self, max_line_bytes: int = 1_000_000) -> None:
        super().__init__(max_line_bytes)
        self.header: list[str] | None = None
        self.delimiter = ","

    def prime(self, first_line: Line) -> None:
        text = decode_line(first_line.raw, first=True)
        if text is not None:
            self._take_header(text)

    def _take_header(self, text: str) -> None:
        self.delimiter = sniff_delimiter(text)
        row = next(csv.reader([text], delimiter=self.delimiter), [])
        self.header = [c.strip() for c in row]

    def record(self, line: Line, text: str) -> contracts.LogRecord | None:
        if self.header is None:
            self._take_header(text)
            return None
        try:
            row = (
                text.split(self.delimiter)
                if '"' not in text
                else next(csv.reader([text], delimiter=self.delimiter, strict=True))
            )
        except csv.Error as exc:
            raise ValueError(f"bad CSV: {exc}") from None
        if len(row) != len(self.header):
            raise ValueError(f"expected {len(self.header)} fields, found {len(row)}")
        fields = dict(zip(self.header, row, strict=True))
        lowered = {k.lower(): v for k, v in fields.items()}
        return contracts.LogRecord(line=line.number, fields=fields, ts=self.timestamp(lowered))


class JsonLinesParser(LogParser):
    """One JSON object per line."""

    name = "jsonl"

    def record(self, line: Line, text: str) -> contracts.LogRecord | None:
        try:
            value = _json.decode(text.encode("utf-8"))
        except msgspec.DecodeError as exc:
            raise ValueError(f"bad JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("JSON line is not an object")
        return contracts.LogRecord(line=line.number, fields=value, ts=self.timestamp(value))


class RegexParser(LogParser):
    """Plain text matched by a regex; named groups become fields, ``ts`` is the timestamp."""

    name = "regex"

    def __init__(self, pattern: str, max_line_bytes: int = 1_000_000) -> None:
        super().__init__(max_line_bytes)
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"regex {pattern!r} does not compile: {exc}") from None
        if not self.pattern.groupindex:
            raise ValueError(f"regex {pattern!r} has no named groups (?P<name>...)")

    def record(self, line: Line, text: str) -> contracts.LogRecord | None:
        match = self.pattern.match(text)
        if match is None:
            raise ValueError("line does not match the source's regex")
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        return contracts.LogRecord(line=line.number, fields=fields, ts=self.timestamp(fields))
