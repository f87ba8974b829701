"""Line parsers of the ingest service: work events (DESIGN §3), CSV, JSON Lines, regex."""

from __future__ import annotations

from services.core.config.ingest import SourceSettings
from services.ingest.parsers.base import Line, LineError, Parsed, Parser
from services.ingest.parsers.generic import CsvParser, JsonLinesParser, RegexParser
from services.ingest.parsers.work import FileNameError, WorkParser

PARSERS = ("work", "csv", "jsonl", "regex")

__all__ = ["PARSERS", "FileNameError", "Line", "LineError", "Parsed", "Parser", "make_parser"]


def make_parser(source: SourceSettings, path: str) -> Parser:
    """A fresh parser for one file; ValueError (with the reason) when it cannot be made."""
    limit = source.max_line_bytes
    if source.parser == "work":
        return WorkParser(path, limit)
    if source.parser == "csv":
        return CsvParser(limit)
    if source.parser == "jsonl":
        return JsonLinesParser(limit)
    if source.parser == "regex":
        return RegexParser(source.regex, limit)
    raise ValueError(f"source {source.name!r}: parser must be one of {', '.join(PARSERS)}")
