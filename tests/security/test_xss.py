"""XSS across the whole product: hostile strings in every input, every page and fragment.

The real analyzer, ingest (a watched folder), alerts and gateway run against the test
broker; ``tests/security/product.py`` feeds script, markup and template payloads through
work logs, programs, targets, pushed metrics, plugins, alert rules and API keys. Every
HTML page and fragment of the app's route table is then fetched (plain, with each
payload in every query parameter, and with payloads as path ids): none may answer 500
or carry a payload unescaped. A real chromium then opens the main pages and fails on any
``alert()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.core.config import Settings
from services.gateway.app import route_handlers
from tests.conftest import free_port
from tests.security.conftest import shot
from tests.security.product import (
    HOSTILE,
    IMG,
    PROGRAM_ID,
    SCRIPT,
    TARGET_ID,
    TEMPLATE,
    hostile_product,
)

HTML = {"accept": "text/html"}
PATH_IDS = {"program_id": PROGRAM_ID, "target_id": TARGET_ID, "code": "en", "mode": "dark"}
# Query keys read from request.query_params rather than the handler's signature.
EXTRA_QUERY = (
    "range",
    "process",
    "workers",
    "date_from",
    "date_to",
    "name",
    "label",
    "barcode",
    "error",
    "series",
    "tab",
)
PARAM = re.compile(r"\{(\w+):\w+\}")


def html_routes() -> list[tuple[str, list[str]]]:
    """(path template, query parameter names) of every GET route that is not /api/."""
    routes = []
    for handler in route_handlers():
        if "GET" not in handler.http_methods:
            continue
        for path in sorted(handler.paths):
            if path.startswith("/api/"):
                continue
            names = [
                "range" if n == "range_" else n
                for n in handler.parsed_fn_signature.parameters
                if n not in ("request", "state", "data") and f"{{{n}:" not in path
            ]
            routes.append((path, sorted({*names, *EXTRA_QUERY})))
    return routes


def requests_to_make() -> Iterator[tuple[str, dict[str, str]]]:
    """Each page plain, with every query parameter a payload, and with payload ids."""
    for template, names in html_routes():
        plain = PARAM.sub(lambda m: PATH_IDS[m.group(1)], template)
        yield plain, {}
        for payload in (*HOSTILE, TEMPLATE):
            yield plain, dict.fromkeys(names, payload)
            if PARAM.search(template):
                yield PARAM.sub(lambda _m, p=payload: quote(p, safe=""), template), {}
    # The trace box with a valid kind, so the payload reaches the analyzer and back.
    for kind in ("barcode", "item", "work_order"):
        for payload in HOSTILE:
            yield "/ui/fragments/work/trace", {"kind": kind, "value": payload}
    yield "/ui/fragments/work/details", {"workers": SCRIPT, "process": "packing"}


def assert_escaped(where: str, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    for payload in HOSTILE:
        assert payload not in response.text, f"{where}: unescaped {payload!r}"
        assert payload.replace('"', "'") not in response.text, f"{where}: {payload!r} in ''"
    assert "alert(1)</script>" not in response.text, f"{where}: a closing script payload"


@pytest.mark.timeout(240)
async def test_no_page_shows_a_payload_unescaped(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with hostile_product(settings, watch) as product:
        admin = product.admin
        seen: dict[str, str] = {}
        for path, params in requests_to_make():
            response = await admin.get(path, params=params, headers=HTML)
            where = f"{path}?{params}" if params else path
            assert_escaped(where, response)
            seen[where] = response.text
        # The payloads did reach the pages, escaped (so the checks above were not vacuous).
        shown = {w for w, text in seen.items() if "&lt;script&gt;alert(1)" in text}
        for page in (
            "/ui/fragments/work/workers",
            "/programs",
            "/ui/fragments/targets/list",
            "/ui/fragments/alerts",
            "/settings",
            "/metrics",
            "/ui/fragments/alerts/history",
            "/ui/fragments/work/details",
        ):
            assert page in shown, f"{page}: the payload never reached it"
        output = (await admin.get(f"/ui/fragments/programs/{PROGRAM_ID}/output")).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output
        # Template syntax in data is shown as typed, never evaluated.
        workers = (await admin.get("/ui/fragments/work/workers", headers=HTML)).text
        assert TEMPLATE in workers
        # Forms that re-render what was typed (errors, previews) escape it too.
        evil = SCRIPT + IMG
        posts = {
            "/ui/targets": {"id": evil, "name": evil, "kind": "http", "url": evil},
            "/ui/targets?ok": {"id": "xss-form", "name": evil, "kind": "http", "url": "http://x/"},
            "/ui/alerts/rules": {"text": f"rules:\n  - name: {evil}\n    summary: {evil}\n"},
            "/ui/alerts/silences": {"matchers": f"rule={evil}", "reason": evil},
            "/settings/users": {"name": evil, "password": evil, "role": evil},
            "/settings/keys": {"name": evil, "role": "viewer"},
            f"/ui/programs/{PROGRAM_ID}/{quote(SCRIPT, safe='')}": {},
            f"/ui/targets/{quote(IMG, safe='')}/test": {},
        }
        for where, form in posts.items():
            response = await admin.post(where.split("?")[0], data=form, headers=HTML)
            assert_escaped(f"POST {where}", response)
            assert response.status_code not in (401, 403), f"POST {where}: refused"
        # The 404 page and a login redirect target reflect nothing either.
        anon = httpx.AsyncClient(base_url=product.gw.url)
        async with anon:
            for path, params in (
                ("/login", {"next": SCRIPT}),
                ("/login", {"next": IMG, "error": SCRIPT}),
                ("/no/" + quote(SCRIPT, safe=""), {}),
            ):
                assert_escaped(path, await anon.get(path, params=params, headers=HTML))
        assert len(seen) > 60


MAIN_PAGES = (
    "/",
    "/work",
    "/programs",
    f"/programs/{PROGRAM_ID}",
    "/targets",
    f"/targets/{TARGET_ID}",
    "/metrics",
    "/alerts",
    "/settings",
    "/settings/audit",
)


@pytest.mark.browser
@pytest.mark.timeout(240)
async def test_no_alert_fires_in_a_browser(
    browser: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with hostile_product(settings, watch) as product:
        gw = product.gw
        await gw.ensure_user("xss-admin", "admin")
        token = await gw.service.auth.new_session("xss-admin", "127.0.0.1")
        context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        from services.gateway.auth.middleware import SESSION_COOKIE

        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": gw.url}])
        page = await context.new_page()
        dialogs: list[str] = []

        async def on_dialog(dialog: Any) -> None:
            dialogs.append(f"{page.url}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        for path in MAIN_PAGES:
            response = await page.goto(gw.url + path)
            assert response is not None and response.status < 500, path
            assert "/login" not in page.url, f"{path}: not logged in"
            # Let HTMX fragments load and swap in.
            await page.wait_for_load_state("networkidle")
            await page.wait_for_timeout(300)
        # The payloads are on screen as text (escaped, so shown and not run).
        await page.goto(gw.url + "/work")
        await page.locator("[data-testid=worker-radar]").wait_for()
        await shot(page, "security-work")
        body = await page.inner_text("body")
        assert SCRIPT in body and TEMPLATE in body
        await page.goto(gw.url + f"/programs/{PROGRAM_ID}")
        await page.wait_for_function(
            "s => document.body.innerText.includes(s)", arg=IMG, timeout=15_000
        )
        assert dialogs == [], dialogs
        # The handler does see an alert() (so the empty list above means none fired).
        await page.evaluate("() => alert('probe')")
        assert len(dialogs) == 1 and dialogs[0].endswith("probe")
        await context.close()
