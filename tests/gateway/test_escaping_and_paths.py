"""XSS (hostile names shown escaped) and path traversal on endpoints that touch files."""

from __future__ import annotations

from collections.abc import Callable

from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


async def test_hostile_names_are_escaped(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        admin = await gw.client("admin")
        assert (await admin.post("/api/v1/keys", json={"name": EVIL, "role": "viewer"})).is_success
        anon = await gw.client(None)
        # A login attempt whose user name is a script ends up in the audit log.
        await anon.post("/api/v1/auth/login", json={"name": EVIL, "password": "whatever"})
        html = {"accept": "text/html"}
        pages = {
            "/settings": await admin.get("/settings", headers=html),
            "/settings/audit": await admin.get("/settings/audit", headers=html),
            "/settings/audit?actor=": await admin.get(
                "/settings/audit", params={"actor": EVIL}, headers=html
            ),
            "/login?next=": await anon.get("/login", params={"next": EVIL}, headers=html),
            "404 page": await admin.get("/no/" + EVIL, headers=html),
        }
        for name, page in pages.items():
            assert EVIL not in page.text, f"unescaped script on {name}"
        assert ESCAPED in pages["/settings"].text
        assert ESCAPED in pages["/settings/audit"].text
        assert ESCAPED in pages["/settings/audit?actor="].text
        # The CSV export defuses spreadsheet formulas and keeps the text.
        r = await admin.get("/api/v1/audit/export", params={"format": "csv"})
        assert r.status_code == 200 and EVIL in r.text


async def test_path_traversal_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        admin = await gw.client("admin")
        made = await admin.post("/api/v1/backups")
        assert made.status_code == 201, made.text
        name = made.json()["name"]
        ok = await admin.get(f"/api/v1/backups/{name}")
        assert ok.status_code == 200 and ok.content[:2] == b"\x1f\x8b"  # gzip
        secret_db = settings.db_path("gateway").read_bytes()[:16]
        attempts = [
            "/api/v1/backups/..%2Fgateway.sqlite",
            "/api/v1/backups/..%2F..%2F..%2Fetc%2Fpasswd",
            "/api/v1/backups/%2Fetc%2Fpasswd",
            f"/api/v1/backups/..%2Fbackups%2F{name}",
            "/api/v1/backups/vigil-backup-20000101-000000.tar.gz%00.txt",
            "/static/..%2F..%2Fservice.py",
            "/static/../../service.py",
            "/static/%2e%2e/%2e%2e/app.py",
            "/static/vendor/..%2F..%2F..%2Fauth%2Fstore.py",
        ]
        for path in attempts:
            r = await admin.get(path)
            assert r.status_code in (400, 404), f"{path}: {r.status_code}"
            assert b"import " not in r.content and b"root:" not in r.content, path
            assert secret_db not in r.content, path
