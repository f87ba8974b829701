"""The outcome of one check: status, reason, timing, metric samples and step details."""

from __future__ import annotations

import functools
import ssl
from typing import Any, Literal

import msgspec

from services.core.contracts import MetricSample

Status = Literal["up", "down", "degraded", "unknown"]


class Step(msgspec.Struct, kw_only=True):
    """One step of a multi-step test (reach, list models, completion ...)."""

    name: str
    ok: bool
    detail: str = ""
    ms: float | None = None


class CheckResult(msgspec.Struct, kw_only=True):
    """What a check found. ``reason`` is the exact cause when not up."""

    status: Status
    reason: str = ""
    response_ms: float | None = None
    samples: list[MetricSample] = []
    steps: list[Step] = []
    score: float | None = None
    lost: list[str] = []  # "−30: rate limited (429)" lines explaining a health score
    info: dict[str, Any] = {}
    ts: float = 0.0


def sample(name: str, value: float, target: str, **labels: str) -> MetricSample:
    """A metric sample labelled with its target (plus any extra labels)."""
    return MetricSample(name=name, value=float(value), labels={"target": target, **labels})


def describe_error(exc: BaseException) -> str:
    """A one-line, exact reason for a network failure (DNS, refused, TLS, timeout)."""
    import socket

    import httpx

    text = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused: {cause.strerror or cause}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "name or service not known" in lowered or "nodename nor servname" in lowered:
            return f"DNS lookup failed: {text}"
        if "temporary failure in name resolution" in lowered or "no address" in lowered:
            return f"DNS lookup failed: {text}"
        if "refused" in lowered:
            return f"connection refused: {text}"
        if "certificate" in lowered or "ssl" in lowered:
            return f"TLS error: {text}"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {text}"
    return f"{type(exc).__name__}: {text}"


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and mode: building one costs ~40 ms, so checks share it."""
    import httpx

    return httpx.create_ssl_context(verify=verify)
