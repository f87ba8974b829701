"""docs/EVENTS.md and docs/CONFIG.md must say exactly what the code says."""

from __future__ import annotations

from pathlib import Path

from services.core import contracts as c
from services.core.eventsdoc import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "EVENTS.md"


def test_events_md_matches_the_contract() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/EVENTS.md is stale: run `python -m services.core.eventsdoc > docs/EVENTS.md`"
    )


def test_every_event_type_is_documented_with_an_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in c.EVENT_TYPES:
        assert f"### {kind.__name__}" in text
        assert c.schema_tag(kind) in text


def test_config_md_matches_the_settings() -> None:
    from services.core.configdoc import render as render_config

    doc = DOC.parent / "CONFIG.md"
    assert doc.read_text(encoding="utf-8") == render_config(), (
        "docs/CONFIG.md is stale: run `python -m services.core.configdoc > docs/CONFIG.md`"
    )
