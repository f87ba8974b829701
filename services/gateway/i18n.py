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
        "auth.login": "Log in",
        "auth.logout": "Log out",
        "auth.name": "User name",
        "auth.password": "Password",
        "auth.change_password": "Change password",
        "auth.current_password": "Current password",
        "auth.new_password": "New password (10+ characters)",
        "auth.repeat_password": "Repeat the new password",
        "auth.password_changed": "Password changed.",
        "login.failed": "Wrong user name or password.",
        "login.locked": "Too many failed logins: this account is locked for a while.",
        "role.viewer": "viewer",
        "role.operator": "operator",
        "role.admin": "admin",
        "settings.account": "My account",
        "settings.users": "Users",
        "settings.keys": "API keys",
        "settings.audit": "Audit log",
        "settings.backup": "Backup",
        "settings.create": "Create",
        "settings.delete": "Delete",
        "settings.revoke": "Revoke",
        "settings.role": "Role",
        "settings.created": "Created",
        "settings.name": "Name",
        "settings.actions": "Actions",
        "settings.save": "Save",
        "settings.key_once": "Copy this key now; it is shown only once:",
        "settings.revoked": "revoked",
        "settings.last_used": "Last used",
        "settings.export_csv": "Export CSV",
        "settings.export_json": "Export JSON",
        "settings.filter": "Filter",
        "settings.when": "When",
        "settings.who": "Who",
        "settings.what": "What",
        "settings.target": "Target",
        "settings.from": "From",
        "settings.result": "Result",
        "settings.older": "Older",
        "settings.newer": "Newer",
        "settings.backup_now": "Back up now",
        "settings.backup_help": (
            "An archive of every service's database and the configuration. "
            "Restore with `vigil restore FILE` while Vigil is stopped."
        ),
        "settings.language": "Language",
        "settings.theme": "Theme",
        "settings.reset_password": "New password",
        "settings.all_audit": "Open the audit log",
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
        "auth.login": "로그인",
        "auth.logout": "로그아웃",
        "auth.name": "사용자 이름",
        "auth.password": "비밀번호",
        "auth.change_password": "비밀번호 변경",
        "auth.current_password": "현재 비밀번호",
        "auth.new_password": "새 비밀번호 (10자 이상)",
        "auth.repeat_password": "새 비밀번호 확인",
        "auth.password_changed": "비밀번호가 변경되었습니다.",
        "login.failed": "사용자 이름 또는 비밀번호가 틀렸습니다.",
        "login.locked": "로그인 실패가 너무 많아 계정이 잠시 잠겼습니다.",
        "role.viewer": "조회자",
        "role.operator": "운영자",
        "role.admin": "관리자",
        "settings.account": "내 계정",
        "settings.users": "사용자",
        "settings.keys": "API 키",
        "settings.audit": "감사 로그",
        "settings.backup": "백업",
        "settings.create": "만들기",
        "settings.delete": "삭제",
        "settings.revoke": "폐기",
        "settings.role": "역할",
        "settings.created": "생성",
        "settings.name": "이름",
        "settings.actions": "작업",
        "settings.save": "저장",
        "settings.key_once": "이 키를 지금 복사하세요. 한 번만 표시됩니다:",
        "settings.revoked": "폐기됨",
        "settings.last_used": "마지막 사용",
        "settings.export_csv": "CSV 내보내기",
        "settings.export_json": "JSON 내보내기",
        "settings.filter": "필터",
        "settings.when": "시각",
        "settings.who": "누가",
        "settings.what": "무엇을",
        "settings.target": "대상",
        "settings.from": "접속지",
        "settings.result": "결과",
        "settings.older": "이전",
        "settings.newer": "다음",
        "settings.backup_now": "지금 백업",
        "settings.backup_help": (
            "모든 서비스의 데이터베이스와 설정을 하나의 아카이브로 저장합니다. "
            "복원은 Vigil을 멈춘 뒤 `vigil restore FILE`."
        ),
        "settings.language": "언어",
        "settings.theme": "테마",
        "settings.reset_password": "새 비밀번호",
        "settings.all_audit": "감사 로그 열기",
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
