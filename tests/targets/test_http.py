"""HTTP checks against a real local HTTP(S) server: ok, failing, slow, body match, TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.config.targets import TargetSpec
from services.ingest.targets.http import check_http
from tests.conftest import free_port
from tests.targets.servers import self_signed, serve, slow, text_reply


def _values(result, name):  # type: ignore[no-untyped-def]
    return [s.value for s in result.samples if s.name == name]


ROUTES = {
    "/ok": lambda h: text_reply("all systems go"),
    "/fail": lambda h: text_reply("boom", 503),
    "/created": lambda h: text_reply("made", 201),
    "/slow": slow(3.0, lambda h: text_reply("late")),
}


async def test_up_with_status_time_and_body_match() -> None:
    with serve(ROUTES) as server:
        spec = TargetSpec(id="api", kind="http", url=f"{server.url}/ok", body_match=r"systems\s+go")
        result = await check_http(spec)
    assert result.status == "up", result.reason
    assert _values(result, "http.status_code") == [200.0]
    assert _values(result, "target.up") == [1.0]
    assert _values(result, "http.response_ms")[0] > 0
    assert all(s.labels["target"] == "api" for s in result.samples)


async def test_failing_status_is_down_with_the_exact_code() -> None:
    with serve(ROUTES) as server:
        result = await check_http(TargetSpec(id="a", kind="http", url=f"{server.url}/fail"))
    assert result.status == "down"
    assert "HTTP 503" in result.reason and "2xx/3xx" in result.reason
    assert _values(result, "target.up") == [0.0]
    assert _values(result, "http.status_code") == [503.0]


async def test_expected_status_and_method_and_headers() -> None:
    with serve(ROUTES) as server:
        spec = TargetSpec(
            id="a",
            kind="http",
            url=f"{server.url}/created",
            method="POST",
            headers={"X-Probe": "vigil"},
            expect_status=[200],
        )
        result = await check_http(spec)
        method, _path, headers = server.requests[-1]
    assert (
        result.status == "down" and "HTTP 201" in result.reason and "expected 200" in result.reason
    )
    assert method == "POST" and headers.get("X-Probe") == "vigil"


async def test_body_mismatch_is_down() -> None:
    with serve(ROUTES) as server:
        spec = TargetSpec(id="a", kind="http", url=f"{server.url}/ok", body_match="^maintenance")
        result = await check_http(spec)
    assert result.status == "down"
    assert "body does not match" in result.reason


async def test_slow_server_times_out() -> None:
    with serve(ROUTES) as server:
        spec = TargetSpec(id="a", kind="http", url=f"{server.url}/slow", timeout_s=0.3)
        result = await check_http(spec)
    assert result.status == "down"
    assert "timed out" in result.reason


async def test_degraded_when_slower_than_threshold() -> None:
    routes = {"/meh": slow(0.2, lambda h: text_reply("ok"))}
    with serve(routes) as server:
        spec = TargetSpec(id="a", kind="http", url=f"{server.url}/meh", degraded_ms=50)
        result = await check_http(spec)
    assert result.status == "degraded"
    assert result.reason.startswith("slow:")


async def test_connection_refused_and_dns_failure() -> None:
    refused = await check_http(
        TargetSpec(id="a", kind="http", url=f"http://127.0.0.1:{free_port()}/", timeout_s=2)
    )
    assert refused.status == "down" and "refused" in refused.reason
    dns = await check_http(
        TargetSpec(id="b", kind="http", url="http://no-such-host.invalid/", timeout_s=3)
    )
    assert dns.status == "down"
    assert dns.reason.startswith("DNS lookup failed"), dns.reason


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return self_signed(Path(tmp_path_factory.mktemp("tls")), days=30)


async def test_self_signed_certificate_is_not_trusted(tls_context) -> None:  # type: ignore[no-untyped-def]
    with serve(ROUTES, tls=tls_context) as server:
        result = await check_http(TargetSpec(id="a", kind="http", url=f"{server.url}/ok"))
    assert result.status == "down"
    assert "TLS certificate not trusted" in result.reason
    assert "self-signed" in result.reason or "self signed" in result.reason


async def test_tls_days_left_without_verification(tls_context) -> None:  # type: ignore[no-untyped-def]
    with serve(ROUTES, tls=tls_context) as server:
        spec = TargetSpec(id="a", kind="http", url=f"{server.url}/ok", verify_tls=False)
        result = await check_http(spec)
    assert result.status == "up", result.reason
    days = _values(result, "tls.days_left")
    assert len(days) == 1 and 29 < days[0] <= 30


async def test_tls_expiring_soon_is_degraded(tmp_path: Path) -> None:
    context = self_signed(tmp_path, days=3)
    with serve(ROUTES, tls=context) as server:
        spec = TargetSpec(id="a", kind="http", url=f"{server.url}/ok", verify_tls=False)
        result = await check_http(spec)
    assert result.status == "degraded"
    assert "expires in" in result.reason


def test_bad_specs_name_the_field() -> None:
    import msgspec

    bad = [
        ({"id": "a b", "kind": "http", "url": "http://x"}, "id:"),
        ({"id": "a", "kind": "http", "url": "ftp://x"}, "url:"),
        ({"id": "a", "kind": "http", "url": "http://x", "interval_s": 0.5}, "interval_s"),
        ({"id": "a", "kind": "http", "url": "http://x", "body_match": "("}, "body_match"),
        ({"id": "a", "kind": "database", "url": "postgresql://u:pw@h/db"}, "no password"),
        ({"id": "a", "kind": "gopher", "url": "http://x"}, "kind"),
    ]
    for raw, needle in bad:
        with pytest.raises(msgspec.ValidationError) as info:
            msgspec.convert(raw, TargetSpec)
        assert needle in str(info.value), (raw, str(info.value))
