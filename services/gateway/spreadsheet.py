"""Cells for CSV/xlsx exports that a spreadsheet never runs as a formula."""

from __future__ import annotations

from typing import Any

# Excel and LibreOffice start a formula (or DDE) at a leading = + - @, and after a tab or CR.
FORMULA_START = frozenset({"=", "+", "-", "@", "\t", "\r"})


def safe_cell(value: Any) -> Any:
    """``value`` with a text cell that would start a formula prefixed by ``'``."""
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]
