"""Path traversal, hostile parameters and export cells, with the real services running.

Every endpoint that touches a file by a client-chosen name (backup download, static
files, program output and registry, work exports, the language/theme switches) gets
``../``, absolute paths, ``%2e%2e%2f``, double encoding and NUL bytes: each answers 4xx
and never a byte of a file outside its folder. Parameters that used to reach the
analyzer unchecked (a time zone, far-future times) answer 400 problem+json naming the
parameter. Exports never hand a spreadsheet a formula, and a redirect target with a
control character never leaves the site.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from services.analyzer.service import AnalyzerService
from services.core.bus import RpcError
from services.core.config import Settings
from services.ingest.service import IngestService
from tests.conftest import free_port, wait_for
from tests.gateway_harness import running_gateway

FORMULA = '=HYPERLINK("http://evil.example","x")'
TRAVERSALS = (
    "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "%2Fetc%2Fpasswd",
    "..%5C..%5C..%5Cetc%5Cpasswd",
    "passwd%00.tar.gz",
    "..%2Fgateway.sqlite",
    "..%2F..%2Fdata%2Fgateway.sqlite",
    "%00",
    "a" * 300,  # longer than a file name may be
)


def _leaks(body: bytes, secrets: list[bytes]) -> bool:
    return b"root:" in body or b"import " in body or any(s in body for s in secrets)


async def test_file_parameters_never_leave_their_folder(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with AnalyzerService(settings), IngestService(settings), running_gateway(settings) as gw:
        admin = await gw.client("admin")
        made = await admin.post("/api/v1/backups")
        assert made.status_code == 201, made.text
        secrets = [
            settings.db_path("gateway").read_bytes()[:100],
            (settings.data_path / "backups" / made.json()["name"]).read_bytes()[:64],
        ]
        templates = (
            "/api/v1/backups/{x}",
            "/static/{x}",
            "/static/vendor/{x}",
            "/api/v1/programs/{x}/output",
            "/api/v1/programs/{x}",
            "/api/v1/programs/{x}/history",
            "/ui/fragments/programs/{x}/output",
            "/programs/{x}",
            "/api/v1/work/export/{x}",
            "/api/v1/targets/{x}",
            "/ui/lang/{x}",
            "/ui/theme/{x}",
        )
        tried = 0
        for template in templates:
            for attempt in TRAVERSALS:
                # Raw (httpx keeps the percent-encoding as written).
                url = httpx.URL(gw.url + template.format(x=attempt))
                r = await admin.get(url)
                tried += 1
                assert 400 <= r.status_code < 500, f"{url}: {r.status_code}"
                assert not _leaks(r.content, secrets), f"{url}: leaked a file"
        assert tried == len(templates) * len(TRAVERSALS)
        # A program id that is a path is refused and creates nothing outside data/programs.
        for bad in ("..%2F..%2Fescaped", "..", "a%00b", "%2Ftmp%2Fescaped"):
            r = await admin.put(
                httpx.URL(gw.url + f"/api/v1/programs/{bad}"),
                json={"argv": ["/bin/true"], "autostart": False},
            )
            assert 400 <= r.status_code < 500, f"{bad}: {r.status_code} {r.text}"
        assert not (settings.data_path / "escaped").exists()
        assert not (settings.data_path.parent / "escaped").exists()
        # Query parameters that name a file or a zone are checked, not opened.
        for tz in ("../../../../etc/passwd", "/etc/passwd", "null", "America", "a\x00b"):
            r = await admin.get("/api/v1/metrics/pattern", params={"tz": tz})
            assert r.status_code == 400, f"tz={tz!r}: {r.status_code} {r.text}"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "tz" in r.text
        good = await admin.get("/api/v1/metrics/pattern", params={"tz": "Asia/Seoul"})
        assert good.status_code == 200, good.text


async def test_hostile_numbers_are_400_naming_the_parameter(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with AnalyzerService(settings), running_gateway(settings) as gw:
        viewer = await gw.client("viewer")
        cases = {
            "end": ("/api/v1/metrics/query", {"end": "1.8797793730620636e+16"}),
            "start": ("/api/v1/metrics/query", {"start": "-5"}),
            "series_id": ("/api/v1/metrics/query", {"series_id": str(2**70)}),
            "range": ("/api/v1/metrics/export", {"range": "99999999999999d"}),
        }
        for name, (path, params) in cases.items():
            r = await viewer.get(path, params=params)
            assert r.status_code == 400, f"{name}: {r.status_code} {r.text}"
            assert name in r.json().get("detail", "") + str(r.json().get("extra", "")), r.text
        # The analyzer itself refuses what a client of NATS could send it directly.
        for payload in ({"end": 1e16}, {"range_s": 1e300}, {"series_id": 2**64}):
            try:
                await gw.service.bus.request("vigil.api.analyzer.metric_query", payload)
            except RpcError as exc:
                assert exc.code == 400, (payload, exc.code, exc.description)
            else:
                raise AssertionError(f"{payload}: accepted")
        # An empty change of an unknown user is a 404 (it was a KeyError, a 500).
        admin = await gw.client("admin", via="api_key")
        r = await admin.patch("/api/v1/users/%E0%B8%81%E0%B8%B2", json={})
        assert r.status_code == 404, r.text
        # Redirect targets with control characters stay on the site.
        anon = await gw.client(None, follow_redirects=False)
        for target in ("/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil"):
            r = await anon.get("/ui/lang/en", params={"next": target})
            assert r.status_code == 303
            assert r.headers["location"] == "/", f"{target!r} → {r.headers['location']!r}"


async def test_exports_never_hand_a_spreadsheet_a_formula(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    now = datetime.now()
    ts = now.strftime("%Y-%m-%d %H:%M:%S")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["timestamp", "worker", "event", "details"])
    tray = {"start_time": ts, "work_time": 30, "item_code": FORMULA, "item_name": "@SUM(A1)"}
    writer.writerow([ts, FORMULA, "TRAY_COMPLETE", json.dumps(tray)])
    writer.writerow([ts, FORMULA, "SCAN_ERROR", "{}"])
    (watch / f"포장실작업이벤트로그_w_{now:%Y%m%d}.csv").write_text(
        buf.getvalue(), encoding="utf-8-sig"
    )
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with AnalyzerService(settings), IngestService(settings), running_gateway(settings) as gw:
        viewer = await gw.client("viewer")

        async def exported() -> str | None:
            r = await viewer.get("/api/v1/work/export/sessions", params={"format": "csv"})
            return r.text if r.status_code == 200 and "HYPERLINK" in r.text else None

        text = await wait_for(exported, timeout=20, step=0.2)
        cells = [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]
        hostile = [c for c in cells if "HYPERLINK" in c or "SUM(A1)" in c]
        assert hostile, text
        assert all(c[:1] == "'" for c in hostile), hostile
        errors = await viewer.get("/api/v1/work/export/errors", params={"format": "csv"})
        assert errors.status_code == 200
        assert not any(
            c[:1] in "=+-@" for row in csv.reader(io.StringIO(errors.text)) for c in row if c
        )
        xlsx = await viewer.get("/api/v1/work/export/sessions", params={"format": "xlsx"})
        assert xlsx.status_code == 200
        with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
            sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
            xml = "".join(book.read(n).decode() for n in sheets)
            shared = "xl/sharedStrings.xml"
            strings = book.read(shared).decode() if shared in book.namelist() else xml
        assert "<f>" not in xml, "a text cell became a formula"
        assert "HYPERLINK" in strings
