"""Both UI languages carry the same label keys, and the language choice follows the request."""

from __future__ import annotations

from services.gateway.i18n import LABELS, LANGS, translator


def test_every_label_exists_in_every_language() -> None:
    keys = {lang: set(LABELS[lang]) for lang in LANGS}
    assert keys["en"] == keys["ko"], keys["en"] ^ keys["ko"]
    assert all(text.strip() for table in LABELS.values() for text in table.values())


def test_translator_falls_back_to_english_then_the_key() -> None:
    assert translator("ko")("nav.overview") == "개요"
    assert translator("xx")("nav.overview") == "Overview"
    assert translator("en")("no.such.key") == "no.such.key"
