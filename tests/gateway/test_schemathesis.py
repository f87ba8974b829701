"""Schemathesis (a child process) against the live OpenAPI spec: zero server errors.

Covers the gateway's own operations (tags auth, admin, system); the SSE stream never
ends by design and is tested in test_sse.py.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.core.config import Settings
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

CLI = Path(sys.executable).with_name("schemathesis")


@pytest.mark.skipif(not CLI.exists() and not shutil.which("schemathesis"), reason="no schemathesis")
@pytest.mark.timeout(600)
async def test_no_server_errors_anywhere(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(gateway={"port": free_port()})
    async with running_gateway(settings) as gw:
        _info, key = await gw.service.auth.create_key("schemathesis", "admin", "test")
        proc = await asyncio.create_subprocess_exec(
            str(CLI) if CLI.exists() else "schemathesis",
            "run",
            f"{gw.url}/api/v1/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"X-API-Key: {key}",
            "--max-examples",
            "20",
            "--phases",
            "examples,coverage,fuzzing",
            # The gateway's own API (areas backed by other services are fuzzed with them up).
            "--include-tag-regex",
            "^(auth|admin|system)$",
            "--request-timeout",
            "20",
            "--seed",
            "7",
            "--generation-database",
            ":memory:",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 540)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-6000:]
        selected = re.search(r"(\d+) selected", text)
        assert selected and int(selected.group(1)) >= 14, text[-3000:]
        assert "failed" not in text.lower()
