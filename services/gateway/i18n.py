"""UI labels in Korean and English; the language comes from a cookie or Accept-Language."""

from __future__ import annotations

from typing import Any

from litestar import Request

LANGS = ("en", "ko")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "app": "Vigil",
        "nav.overview": "Overview",
        "nav.work": "Work analytics",
        "nav.programs": "Programs",
        "nav.metrics": "Metrics",
        "nav.targets": "Targets",
        "nav.alerts": "Alerts",
        "nav.settings": "Settings",
        "overview.production": "Today's production",
        "overview.events": "events",
        "overview.trays": "trays",
        "overview.live": "live",
        "process.packing": "Packing",
        "process.transfer": "Transfer",
        "process.inspection": "Inspection",
    },
    "ko": {
        "app": "Vigil",
        "nav.overview": "개요",
        "nav.work": "작업 분석",
        "nav.programs": "프로그램",
        "nav.metrics": "지표",
        "nav.targets": "대상",
        "nav.alerts": "알림",
        "nav.settings": "설정",
        "overview.production": "오늘의 생산",
        "overview.events": "이벤트",
        "overview.trays": "트레이",
        "overview.live": "실시간",
        "process.packing": "포장실",
        "process.transfer": "이적실",
        "process.inspection": "검사실",
    },
}


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
