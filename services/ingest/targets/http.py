"""HTTP checks: status, response time, optional body match, TLS certificate days left."""

from __future__ import annotations

import re
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from services.core.config.targets import TargetSpec
from services.ingest.targets.result import CheckResult, Status, describe_error, sample, tls_context

MAX_BODY_BYTES = 1_000_000


def _not_after(ssl_object: Any) -> float | None:
    """The certificate's expiry (Unix seconds), also for certificates we did not verify."""
    if ssl_object is None:
        return None
    try:
        cert = ssl_object.getpeercert()
        if cert and cert.get("notAfter"):
            return float(ssl.cert_time_to_seconds(cert["notAfter"]))
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, OSError):
        return None
    if not der:
        return None
    # Unverified peers only give the DER bytes; the stdlib decodes a PEM file.
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(ssl.DER_cert_to_PEM_cert(der))
    try:
        decoded = ssl._ssl._test_decode_cert(handle.name)  # type: ignore[attr-defined]
        return float(ssl.cert_time_to_seconds(decoded["notAfter"]))
    except (ValueError, KeyError, ssl.SSLError):
        return None
    finally:
        Path(handle.name).unlink(missing_ok=True)


def _expected(spec: TargetSpec, code: int) -> bool:
    if spec.expect_status:
        return code in spec.expect_status
    return 200 <= code < 400


async def check_http(spec: TargetSpec, secret: str = "") -> CheckResult:
    """Request ``spec.url`` once; up when the status (and body) match, down otherwise."""
    import httpx  # here: ~5 MB (with rich/click) that an ingest without targets never needs

    headers = dict(spec.headers)
    if secret and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {secret}"
    timeout = httpx.Timeout(spec.timeout_s)
    started = time.perf_counter()
    expires: float | None = None
    try:
        async with (
            httpx.AsyncClient(verify=tls_context(spec.verify_tls), timeout=timeout) as client,
            client.stream(spec.method.upper(), spec.url, headers=headers) as response,
        ):
            stream = response.extensions.get("network_stream")
            if stream is not None and spec.url.startswith("https"):
                expires = _not_after(stream.get_extra_info("ssl_object"))
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_BODY_BYTES:
                    break
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return CheckResult(
            status="down",
            reason=describe_error(exc),
            response_ms=round(elapsed, 2),
            samples=[sample("target.up", 0, spec.id)],
        )
    elapsed = (time.perf_counter() - started) * 1000
    code = response.status_code
    samples = [
        sample("http.response_ms", elapsed, spec.id),
        sample("http.status_code", code, spec.id),
    ]
    info: dict[str, Any] = {"status_code": code, "bytes": len(body)}
    if expires is not None:
        days = (expires - time.time()) / 86_400
        samples.append(sample("tls.days_left", round(days, 2), spec.id))
        info["tls_days_left"] = round(days, 1)
    status: Status = "up"
    reason = ""
    if not _expected(spec, code):
        wanted = ", ".join(map(str, spec.expect_status)) or "2xx/3xx"
        status, reason = "down", f"HTTP {code} {response.reason_phrase} (expected {wanted})"
    elif spec.body_match:
        text = body.decode(response.encoding or "utf-8", "replace")
        if not re.search(spec.body_match, text):
            status, reason = "down", f"body does not match /{spec.body_match}/"
    if status == "up" and spec.degraded_ms and elapsed > spec.degraded_ms:
        status, reason = "degraded", f"slow: {elapsed:.0f} ms > {spec.degraded_ms:g} ms"
    if status == "up" and expires is not None and info["tls_days_left"] < 7:
        status, reason = "degraded", f"TLS certificate expires in {info['tls_days_left']} days"
    samples.insert(0, sample("target.up", 1 if status != "down" else 0, spec.id))
    return CheckResult(
        status=status,
        reason=reason,
        response_ms=round(elapsed, 2),
        samples=samples,
        info=info,
    )
