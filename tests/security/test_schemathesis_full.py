"""Schemathesis (a child process) against the FULL OpenAPI spec with every service running.

The analyzer, ingest (with a watched folder), alerts and the gateway answer, so the work,
metrics, programs, targets and alerts areas are fuzzed for real rather than timing out
into 503s. Authenticated with an admin API key; zero 5xx allowed. The SSE streams never
end by design (tested in tests/gateway/test_sse.py) and are left out.

To dig deeper than the bounded default run: ``SECURITY_FUZZ_SEED=<n>`` and
``SECURITY_FUZZ_EXAMPLES=<n>`` (default 11 and 25).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.alerts.service import AlertsService
from services.analyzer.service import AnalyzerService
from services.core.config import Settings
from services.ingest.service import IngestService
from tests.conftest import free_port
from tests.gateway_harness import running_gateway
from tests.security.product import PROGRAM_ID, TARGET_ID, feed, write_work_logs

CLI = Path(sys.executable).with_name("schemathesis")
# Half the generated ids are ones that exist, so the operations behind an id lookup are
# fuzzed too rather than stopping at 404.
CONFIG = f"""
[dictionaries.programs]
values = ["{PROGRAM_ID}"]
[dictionaries.targets]
values = ["{TARGET_ID}"]
[dictionaries.exports]
values = ["sessions", "errors"]
[dictionaries.actions]
values = ["start", "stop", "restart"]
[parameters]
"path.what" = {{ dictionary = "exports", probability = 0.5 }}
"path.action" = {{ dictionary = "actions", probability = 0.5 }}
"path.program_id" = {{ dictionary = "programs", probability = 0.5 }}
"path.target_id" = {{ dictionary = "targets", probability = 0.5 }}
"""


@pytest.mark.skipif(not CLI.exists() and not shutil.which("schemathesis"), reason="no schemathesis")
@pytest.mark.timeout(420)
async def test_full_api_has_no_server_errors(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    write_work_logs(watch)
    settings = make_settings(
        gateway={"port": free_port()},
        ingest={"sources": [{"name": "work", "path": str(watch)}]},
    )
    async with (
        AnalyzerService(settings),
        IngestService(settings),
        AlertsService(settings),
        running_gateway(settings) as gw,
    ):
        # A program, a target, rules, a plugin and samples to fuzz around (hostile names).
        await feed(gw, await gw.client("admin"))
        _info, key = await gw.service.auth.create_key("schemathesis", "admin", "test")
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG)
        proc = await asyncio.create_subprocess_exec(
            str(CLI) if CLI.exists() else "schemathesis",
            "--config-file",
            str(config),
            "run",
            f"{gw.url}/api/v1/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"X-API-Key: {key}",
            "--max-examples",
            os.environ.get("SECURITY_FUZZ_EXAMPLES", "25"),
            "--phases",
            "examples,coverage,fuzzing",
            # The SSE streams never end.
            "--exclude-path-regex",
            r"/stream$",
            "--request-timeout",
            "20",
            "--seed",
            os.environ.get("SECURITY_FUZZ_SEED", "11"),
            "--generation-database",
            ":memory:",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 380)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-8000:]
        selected = re.search(r"(\d+) selected", text)
        assert selected and int(selected.group(1)) >= 60, text[-3000:]
        assert "failed" not in text.lower()
