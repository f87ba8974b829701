"""The targets component inside the real ingest service, configured from a vigil.toml file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from services.core import contracts
from services.core.bus import Bus
from services.core.config import ConfigError, Settings, load_settings
from services.ingest.service import IngestService
from tests.conftest import wait_for
from tests.targets.servers import serve, text_reply


def test_config_errors_name_the_target_and_field(tmp_path: Path) -> None:
    path = tmp_path / "vigil.toml"
    path.write_text(
        '[[ingest.targets.items]]\nid = "api"\nkind = "http"\nurl = "https://example.com/"\n\n'
        '[[ingest.targets.items]]\nid = "llm"\nkind = "model"\nurl = "ftp://x"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value) == (
        f"{path}: ingest.targets.items[1]: url: expected http:// or https:// with a host"
    )


async def test_ingest_service_runs_and_serves_targets(
    bus: Bus, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    statuses: list[contracts.TargetStatus] = []

    async def on(msg: object) -> None:
        statuses.append(msgspec.json.decode(msg.data, type=contracts.TargetStatus))  # type: ignore[attr-defined]

    await bus.nc.subscribe("vigil.target.web.status", cb=on)
    with serve({"/": lambda h: text_reply("ok")}) as server:
        settings = make_settings(
            ingest={
                "sources": [{"name": "w", "path": str(watch)}],
                "targets": {"items": [{"id": "web", "kind": "http", "url": f"{server.url}/",
                                       "interval_s": 1}]},
            }
        )  # fmt: skip
        async with IngestService(settings):
            await wait_for(lambda: len(statuses) >= 1, timeout=15)
            reply = await bus.request(contracts.api("ingest", "targets_list"), {})
    listing = msgspec.json.decode(reply)
    assert [t["id"] for t in listing["targets"]] == ["web"]
    assert statuses[0].status == "up" and statuses[0].host == "testhost"
    assert (settings.data_path / "ingest-targets.sqlite").exists()


def test_views_redact_secret_looking_headers() -> None:
    from services.core.config.targets import TargetSpec
    from services.ingest.targets.runner import TargetRunner

    async def report(*_args: object) -> None:
        return None

    spec = TargetSpec(
        id="x",
        kind="http",
        url="https://example.com/",
        headers={"Authorization": "Bearer abc123", "X-Api-Key": "k9", "Accept": "text/plain"},
    )
    view = TargetRunner(spec, "config", "", 10, report).view(detail=True)
    assert view["spec"]["headers"] == {
        "Authorization": "***",
        "X-Api-Key": "***",
        "Accept": "text/plain",
    }
    assert "abc123" not in msgspec.json.encode(view).decode()


def test_the_documented_example_config_is_valid() -> None:
    import tomllib

    from services.core.config.targets import TargetsSettings

    doc = TargetsSettings.__doc__ or ""
    block = "\n".join(line[8:] for line in doc.split("Example::")[1].splitlines())
    parsed = msgspec.convert(tomllib.loads(block)["ingest"]["targets"], TargetsSettings)
    assert [t.kind for t in parsed.items] == ["http", "model", "n8n", "database"]
