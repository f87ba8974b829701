"""Receivers from YAML: webhook, Slack-compatible webhook, e-mail; validated field by field."""

from __future__ import annotations

from typing import Any

from services.alerts.fields import NAME, Bad, duration_of, str_list, str_map
from services.alerts.model import ReceiverConfig

_RECEIVER_KEYS = {
    "name", "kind", "url", "urls", "secret", "headers", "timeout", "retries", "backoff",
    "smtp_host", "smtp_port", "starttls", "username", "password", "from", "to", "send_resolved",
}  # fmt: skip


def build_receiver(raw: Any, file: str, line: int) -> ReceiverConfig:
    if not isinstance(raw, dict):
        raise Bad("", "a receiver must be a mapping")
    unknown = sorted(set(map(str, raw)) - _RECEIVER_KEYS)
    if unknown:
        raise Bad(unknown[0], f"unknown key {unknown[0]!r}")
    name, kind = raw.get("name"), raw.get("kind", "webhook")
    if not isinstance(name, str) or not NAME.match(name):
        raise Bad("name", "name: required, letters, digits, '-' or '_'")
    if kind not in ("webhook", "slack", "email"):
        raise Bad("kind", "kind: expected webhook, slack or email")
    url_key = "url" if "url" in raw else "urls"
    urls = str_list(raw.get(url_key), url_key)
    if kind != "email" and not urls:
        raise Bad(url_key, "url/urls: at least one http(s) URL")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise Bad(url_key, f"{url_key}: {url!r} is not an http(s) URL")
    to = str_list(raw.get("to"), "to")
    if kind == "email" and not to:
        raise Bad("to", "to: at least one e-mail address")
    retries = raw.get("retries", 3)
    if not isinstance(retries, int) or not 0 <= retries <= 20:
        raise Bad("retries", "retries: expected 0 to 20")
    return ReceiverConfig(
        name=name,
        kind=kind,
        urls=urls,
        secret=str(raw.get("secret", "")),
        headers=str_map(raw.get("headers"), "headers"),
        timeout_s=duration_of(raw, "timeout", 5.0),
        retries=retries,
        backoff_s=duration_of(raw, "backoff", 0.5),
        smtp_host=str(raw.get("smtp_host", "127.0.0.1")),
        smtp_port=int(raw.get("smtp_port", 25)),
        starttls=bool(raw.get("starttls", False)),
        username=str(raw.get("username", "")),
        password=str(raw.get("password", "")),
        sender=str(raw.get("from", "vigil@localhost")),
        to=to,
        send_resolved=bool(raw.get("send_resolved", True)),
        file=file,
        line=line,
    )
