"""Sessions, API keys, default-deny and the login form against a real gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import TEST_PASSWORD, running_gateway


async def test_me_per_role_and_anonymous(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        for role in ("viewer", "operator", "admin"):
            r = await (await gw.client(role)).get("/api/v1/auth/me")
            assert r.status_code == 200, r.text
            assert r.json() == {"name": f"test-{role}", "role": role, "via": "session"}
            r = await (await gw.client(role, via="api_key")).get("/api/v1/auth/me")
            assert r.json()["via"] == "api_key" and r.json()["role"] == role
        anon = await gw.client(None)
        r = await anon.get("/api/v1/auth/me")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401


async def test_login_form_sets_cookie_and_redirects(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        await gw.ensure_user("alice", "operator")
        browser = await gw.client(None)
        page = await browser.get("/login", headers={"accept": "text/html"})
        assert page.status_code == 200
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await browser.post(
            "/login",
            data={"name": "alice", "password": TEST_PASSWORD, "next": "/x", "csrf_token": token},
        )
        assert r.status_code == 303 and r.headers["location"] == "/x"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        me = await browser.get("/api/v1/auth/me")
        assert me.json()["name"] == "alice"
        # A page asked for without a session redirects a browser to the login form.
        fresh = await gw.client(None)
        r = await fresh.get("/", headers={"accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_first_admin_must_change_one_time_password(
    make_settings: Callable[..., Any],
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        one_time = gw.admin_password
        assert one_time and gw.service.auth.users["admin"].must_change
        browser = await gw.client(None)
        r = await browser.post("/api/v1/auth/login", json={"name": "admin", "password": one_time})
        assert r.status_code == 200 and r.json()["must_change"] is True
        html = {"accept": "text/html"}
        r = await browser.get("/settings", headers=html)
        assert r.status_code == 303 and r.headers["location"] == "/account/password"
        page = await browser.get("/account/password", headers=html)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        new = {"current": one_time, "password": "a-real-password", "repeat": "a-real-password"}
        r = await browser.post("/account/password", data={**new, "csrf_token": csrf})
        assert r.status_code == 200 and "password-done" in r.text
        assert not gw.service.auth.users["admin"].must_change
        assert (await browser.get("/settings", headers=html)).status_code == 200


async def test_admin_password_from_environment(
    make_settings: Callable[..., Any], monkeypatch: Any
) -> None:
    monkeypatch.setenv("VIGIL_TEST_FIRST_ADMIN", "chosen-by-the-installer")
    settings = make_settings(
        gateway={"port": free_port(), "admin_password_env": "VIGIL_TEST_FIRST_ADMIN"}
    )
    async with running_gateway(settings) as gw:
        assert gw.admin_password is None
        assert not gw.service.auth.users["admin"].must_change
        r = await (await gw.client(None)).post(
            "/api/v1/auth/login", json={"name": "admin", "password": "chosen-by-the-installer"}
        )
        assert r.status_code == 200 and r.json()["role"] == "admin"
