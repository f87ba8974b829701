"""Charts in live fragments: no canvas with an id (htmx's settle blanked those charts)."""

from __future__ import annotations

import re
from pathlib import Path

FRAGMENTS = Path(__file__).resolve().parents[2] / "services" / "gateway" / "templates" / "fragments"


def test_no_fragment_canvas_has_an_id() -> None:
    # When htmx swaps a fragment in again, an element whose id was in the old copy gets the
    # old attributes and, after the settle delay, its own HTML attributes back: the width and
    # height Chart.js had just set vanish and the chart goes blank (Work analytics, Metrics,
    # target history after their first live refresh). tests/work/test_browser_refresh.py
    # shows it in chromium; this keeps new fragments from bringing it back.
    canvases = {
        path.name: re.findall(r"<canvas\b[^>]*>", path.read_text(encoding="utf-8"))
        for path in sorted(FRAGMENTS.glob("*.html"))
    }
    assert sum(len(tags) for tags in canvases.values()) >= 4  # the charts are still there
    with_id = {name: tags for name, tags in canvases.items() if any(" id=" in t for t in tags)}
    assert with_id == {}
