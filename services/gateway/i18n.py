"""UI labels in Korean and English; the language comes from a cookie or Accept-Language."""

from __future__ import annotations

from typing import Any

from litestar import Request

from services.gateway.labels_en import LABELS as EN
from services.gateway.labels_ko import LABELS as KO

LANGS = ("en", "ko")

LABELS: dict[str, dict[str, str]] = {"en": EN, "ko": KO}


def pick_language(request: Request[Any, Any, Any]) -> str:
    """Cookie ``lang`` wins; otherwise the first supported language the browser accepts."""
    chosen = request.cookies.get("lang", "")
    if chosen in LANGS:
        return chosen
    accept = request.headers.get("accept-language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def translator(lang: str) -> Any:
    table = LABELS.get(lang, LABELS["en"])

    def t(key: str) -> str:
        return table.get(key) or LABELS["en"].get(key) or key

    return t
