"""HTTPS with a certificate and key, Secure cookies, OpenAPI docs from local files, compression."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.core.config import Settings
from services.core.service import StartupError
from services.gateway.service import GatewayService
from tests.conftest import free_port
from tests.gateway_harness import TEST_PASSWORD, running_gateway


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
async def test_https_with_certificate(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    settings = make_settings(gateway={"port": port, "tls_cert": str(cert), "tls_key": str(key)})
    async with running_gateway(settings) as gw:
        assert gw.url.startswith("https://")
        await gw.ensure_user("tls-user", "viewer")
        context = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(base_url=gw.url, verify=context) as client:
            r = await client.post(
                "/api/v1/auth/login", json={"name": "tls-user", "password": TEST_PASSWORD}
            )
            assert r.status_code == 200
            assert "Secure" in r.headers["set-cookie"]
            assert (await client.get("/api/v1/auth/me")).json()["name"] == "tls-user"
        # Plain HTTP on the TLS port does not get an answer as if it were fine.
        async with httpx.AsyncClient() as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"http://127.0.0.1:{port}/api/v1/auth/me")


async def test_tls_missing_file_is_one_line_error(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    missing = str(tmp_path / "nope.pem")
    settings = make_settings(gateway={"port": free_port(), "tls_cert": missing, "tls_key": missing})
    with pytest.raises(StartupError, match=r"gateway.tls_cert: no such file"):
        async with GatewayService(settings):
            pass


async def test_openapi_docs_are_local_and_responses_compressed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        anon = await gw.client(None)
        spec = (await anon.get("/api/v1/schema/openapi.json")).json()
        assert "/api/v1/users" in spec["paths"] and "/api/v1/stream" in spec["paths"]
        assert all(p.startswith("/api/v1/") for p in spec["paths"])
        docs = await anon.get("/api/v1/schema/swagger")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower() and "http://" not in docs.text
        assert "/static/vendor/swagger-ui-bundle-5.35.0.js" in docs.text
        bundle = await anon.get(
            "/static/vendor/swagger-ui-bundle-5.35.0.js", headers={"accept-encoding": "br"}
        )
        assert bundle.status_code == 200 and bundle.headers["content-encoding"] == "br"
        gz = await anon.get(
            "/static/vendor/htmx-2.0.11.min.js", headers={"accept-encoding": "gzip"}
        )
        assert gz.headers["content-encoding"] == "gzip"
