"""Settings of the gateway service: HTTP listener, TLS, security, rate limits, UI."""

from __future__ import annotations

import msgspec


class RateLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Requests per minute per caller (user, API key or address); 0 turns a limit off."""

    auth: int = 5
    management: int = 30
    actions: int = 10
    metrics: int = 100


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """REST, SSE and the UI."""

    bind: str = "127.0.0.1"
    port: int = 8089
    # HTTPS when both are set (PEM files).
    tls_cert: str = ""
    tls_key: str = ""
    sse_max_clients: int = 1000
    sse_queue_size: int = 256
    sse_heartbeat_s: float = 15.0
    # Drop an SSE client whose write has waited this long on a full socket (it resumes later).
    sse_stall_s: float = 10.0
    # How many stored events one resuming SSE client may replay (Last-Event-ID).
    sse_resume_max: int = 2000
    # /api/v1/health and /metrics answer without credentials only when these are true.
    open_health: bool = False
    open_metrics: bool = False
    # The first admin's password at first run (set it with $VIGIL_GATEWAY_ADMIN_PASSWORD, or
    # name another variable in admin_password_env); when empty, a one-time one is printed.
    admin_password: str = ""
    admin_password_env: str = "VIGIL_GATEWAY_ADMIN_PASSWORD"
    admin_user: str = "admin"
    session_hours: float = 12.0
    lockout_failures: int = 5
    lockout_minutes: float = 15.0
    rate_limits: RateLimits = RateLimits()
    # Seconds a cached query answer (e.g. today's KPIs) lives unless a newer event drops it.
    cache_ttl_s: float = 10.0
    # One log line per HTTP request (uvicorn's access log, in Vigil's log format).
    access_log: bool = False
    # Behind a reverse proxy that terminates TLS: mark cookies Secure anyway.
    secure_cookies: bool = False
