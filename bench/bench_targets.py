"""Targets: a round of HTTP checks with hung targets among them, and usage-file reading speed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure
from services.core.config.targets import ModelPrice, TargetSpec
from services.ingest.targets.http import check_http
from services.ingest.targets.result import CheckResult
from services.ingest.targets.runner import TargetRunner
from services.ingest.targets.usage import UsageTracker

HANG_S = 3.0


SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path.startswith("/hang"):
            time.sleep(float(sys.argv[1]))
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _server() -> tuple[subprocess.Popen[str], str]:
    """A threaded HTTP server in its own process, so it does not share our GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(HANG_S)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def _specs(url: str, fast: int, hung: int, timeout: float) -> list[TargetSpec]:
    specs = []
    for i in range(fast + hung):
        path = "/hang" if i % max(1, (fast + hung) // max(1, hung)) == 0 and hung else "/ok"
        specs.append(TargetSpec(id=f"t{i}", kind="http", url=f"{url}{path}", timeout_s=timeout))
    return specs


async def _concurrent_round(specs: list[TargetSpec]) -> float:
    """Every target in its own runner task: seconds until every fast target has reported."""
    fast_ids = {s.id for s in specs if not s.url.endswith("/hang")}
    done = asyncio.Event()
    seen: set[str] = set()

    async def report(runner: TargetRunner, result: CheckResult) -> None:
        if runner.spec.id in fast_ids:
            seen.add(runner.spec.id)
            if seen == fast_ids:
                done.set()

    runners = [TargetRunner(s, "config", "", 10, report) for s in specs]
    started = time.perf_counter()
    for runner in runners:
        runner.start()
    await done.wait()
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(r.stop() for r in runners))
    return elapsed


async def _sequential_round(specs: list[TargetSpec]) -> float:
    """The naive loop: one check after the other, each bounded by its timeout."""
    started = time.perf_counter()
    for spec in specs:
        try:
            await asyncio.wait_for(check_http(spec), spec.timeout_s)
        except TimeoutError:
            pass
    return time.perf_counter() - started


def _usage_file(folder: Path, lines: int) -> Path:
    path = folder / "usage.jsonl"
    now = dt.datetime.now().isoformat()
    models = ("gpt-4o", "gpt-4o-mini", "other")
    with path.open("w") as handle:
        for i in range(lines):
            record = {"ts": now, "model": models[i % 3], "prompt_tokens": 100 + i % 50,
                      "completion_tokens": 20 + i % 7}  # fmt: skip
            handle.write(json.dumps(record) + "\n")
    return path


def _usage_figures(lines: int) -> list[Figure]:
    prices = {"gpt-4o": ModelPrice(prompt_per_mtok=2.5, completion_per_mtok=10.0),
              "*": ModelPrice(prompt_per_mtok=0.15, completion_per_mtok=0.6)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = _usage_file(Path(tmp), lines)
        started = time.perf_counter()
        tracker = UsageTracker(str(path), prices)
        counted = tracker.poll()
        ours = time.perf_counter() - started
        assert counted == lines, counted
        started = time.perf_counter()
        with path.open() as handle:
            parsed = sum(1 for line in handle if json.loads(line))
        plain = time.perf_counter() - started
        assert parsed == lines
    return [
        Figure(
            name=f"usage file: {lines:,} requests priced and totalled",
            value=round(lines / ours),
            unit="lines/s",
            baseline_name="json.loads of each line, no accounting",
            baseline_value=round(lines / plain),
            note="incremental reader (offset kept); per-day, per-month and per-model totals",
        )
    ]


async def _checks(quick: bool) -> list[Figure]:
    fast, hung, timeout = (50, 2, 0.5) if quick else (200, 5, 1.0)
    server, url = _server()
    try:
        specs = _specs(url, fast, hung, timeout)
        concurrent = await _concurrent_round(specs)
        sequential = await _sequential_round(specs)
    finally:
        server.terminate()
        server.wait()
    return [
        Figure(
            name=f"round of {fast} HTTP checks with {hung} hung targets (timeout {timeout:g} s)",
            value=round(concurrent * 1000, 1),
            unit="ms",
            baseline_name="the same checks one after the other",
            baseline_value=round(sequential * 1000, 1),
            target=f"< {timeout * 1000:g} ms (a hung target delays no other)",
            met=concurrent < timeout,
            note="each target runs in its own task with its own deadline",
        )
    ]


def run(quick: bool) -> list[Figure]:
    figures = asyncio.run(_checks(quick))
    figures += _usage_figures(20_000 if quick else 200_000)
    return figures
