"""Settings of monitored targets: HTTP checks, AI-model endpoints, n8n, databases."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

import msgspec

TargetKind = Literal["http", "model", "n8n", "database"]
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """USD per one million tokens of one model."""

    prompt_per_mtok: float = 0.0
    completion_per_mtok: float = 0.0


class TargetSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One monitored target. Secrets are referenced by name, never stored here.

    ``url`` is the checked URL (http), the API base such as ``https://host/v1`` (model),
    the n8n base URL (n8n) or a SQLAlchemy URL without password (database).
    """

    id: str
    kind: TargetKind
    url: str
    name: str = ""
    enabled: bool = True
    interval_s: float = 60.0
    timeout_s: float = 10.0
    # A check slower than this (ms) is "degraded"; 0 = never.
    degraded_ms: float = 0.0
    # Secret: the name of an environment variable, or a key in the secrets file.
    secret_env: str = ""
    secret_key: str = ""
    # http
    method: str = "GET"
    headers: dict[str, str] = {}
    expect_status: list[int] = []  # empty: any 2xx or 3xx
    body_match: str = ""  # a regular expression the body must contain
    verify_tls: bool = True
    # model
    model: str = ""  # must be listed by /models when set; used by the tiny completion
    completion: bool = False
    usage_file: str = ""  # JSON Lines of requests: model, prompt/completion tokens
    prices: dict[str, ModelPrice] = {}  # model name (or "*") -> price
    budget_daily_usd: float = 0.0
    budget_monthly_usd: float = 0.0
    # n8n
    page_size: int = 100
    max_pages: int = 10
    # database
    slow_query_ms: float = 1000.0
    max_tables: int = 50

    def __post_init__(self) -> None:
        problems = spec_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def label(self) -> str:
        return self.name or self.id


def spec_problems(spec: TargetSpec) -> list[str]:
    """Every reason ``spec`` cannot be checked, phrased for a person (field: expectation)."""
    problems: list[str] = []
    if not _ID.match(spec.id):
        problems.append("id: 1-64 letters, digits, '_' or '-'")
    if spec.interval_s < 1:
        problems.append("interval_s: at least 1 second")
    if spec.timeout_s <= 0 or spec.timeout_s > 300:
        problems.append("timeout_s: between 0 and 300 seconds")
    if spec.kind in ("http", "model", "n8n"):
        parts = urlsplit(spec.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("url: expected http:// or https:// with a host")
        elif parts.password:
            problems.append("url: no password in the URL; use secret_env or secret_key")
    elif spec.kind == "database":
        if "://" not in spec.url:
            problems.append(
                "url: expected a SQLAlchemy URL such as sqlite:///path or postgresql://"
            )
        elif re.match(r"^[^:]+://[^/@]*:[^/@]*@", spec.url):
            problems.append("url: no password in the URL; use secret_env or secret_key")
    if spec.body_match:
        try:
            re.compile(spec.body_match)
        except re.error as exc:
            problems.append(f"body_match: not a regular expression ({exc})")
    if spec.method.upper() not in {"GET", "HEAD", "POST", "PUT", "OPTIONS", "PATCH", "DELETE"}:
        problems.append("method: an HTTP method such as GET")
    if any(not 100 <= code <= 599 for code in spec.expect_status):
        problems.append("expect_status: HTTP status codes 100-599")
    if spec.budget_daily_usd < 0 or spec.budget_monthly_usd < 0:
        problems.append("budget: not negative")
    if not 1 <= spec.page_size <= 250 or not 1 <= spec.max_pages <= 1000:
        problems.append("page_size: 1-250 and max_pages: 1-1000")
    return problems


class TargetsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Targets from vigil.toml (read-only over the API) and where secrets live.

    Example::

        [ingest.targets]
        secrets_file = "/etc/vigil/secrets.env"     # NAME=value lines

        [[ingest.targets.items]]
        id = "shop"
        kind = "http"
        url = "https://shop.example.com/health"
        expect_status = [200]
        body_match = "ok"
        interval_s = 30

        [[ingest.targets.items]]
        id = "openai"
        kind = "model"
        url = "https://api.openai.com/v1"
        secret_env = "OPENAI_API_KEY"
        model = "gpt-4o-mini"
        completion = true
        usage_file = "/var/log/llm/usage.jsonl"
        budget_daily_usd = 5.0
        budget_monthly_usd = 100.0
        prices = { "gpt-4o-mini" = { prompt_per_mtok = 0.15, completion_per_mtok = 0.60 } }

        [[ingest.targets.items]]
        id = "n8n"
        kind = "n8n"
        url = "http://n8n.local:5678"
        secret_key = "N8N_API_KEY"                   # a key in secrets_file

        [[ingest.targets.items]]
        id = "erp-db"
        kind = "database"
        url = "postgresql://monitor@db.local:5432/erp"
        secret_env = "ERP_DB_PASSWORD"
        slow_query_ms = 500
    """

    enabled: bool = True
    items: list[TargetSpec] = []
    # A file of NAME=value lines holding API keys and passwords (never copied into a DB).
    secrets_file: str = ""
    # How many recent results per target are kept in memory for sparklines.
    history: int = 120
