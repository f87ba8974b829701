"""Parts of the chaos stack: services as killable child processes, a metric agent that
publishes on a known schedule, and readers of what the stack kept (history, alerts, stream)."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.core import contracts
from services.core.bus import Bus

# The alert schedule: every window of WINDOW samples is its own series (label ``window``),
# high for the first HIGH samples, low after: exactly one firing and one resolved each.
STEP_S = 0.05
WINDOW = 30
HIGH = 12
HOST = "chaos-agent"


class ServiceProc:
    """One service as a real child process that can be SIGKILLed and started again.

    Like systemd's ``Restart=on-failure`` in deploy/, a process that exits by itself (e.g.
    the broker was killed while it started and it gave up) is started again; ``exits``
    records those codes. Without this a service that died during start-up (seen: the
    analyzer's ``ensure_streams`` timing out while the broker was down) stayed dead and the
    test waited in vain for its counts; an ingest dead that way is the likely cause of the
    flaky "counted 10,226 of 20,197 rows".
    """

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.exits: list[int] = []
        self._wanted = False
        self._watchers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._wanted = True
        out = (self.log_dir / f"{self.name}.out").open("ab")
        proc = self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{self.name}", env=self.env, stdout=out, stderr=out
        )
        watcher = asyncio.create_task(self._watch(proc))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self._wanted or proc is not self.proc:
            return  # killed or stopped by the test
        self.exits.append(code)
        await asyncio.sleep(0.5)  # RestartSec, shortened
        if self._wanted and proc is self.proc:
            await self.start()

    async def kill(self) -> None:
        self._wanted = False
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        self._wanted = False
        for watcher in list(self._watchers):
            watcher.cancel()
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@dataclass
class MetricAgent:
    """Publishes a MetricBatch every STEP_S as a real agent does (JetStream, msg id from the
    host, group and time; retried until stored), through broker restarts."""

    bus: Bus
    published: Counter[str] = field(default_factory=Counter)  # samples per series key
    windows: int = 0  # complete alert windows published

    @staticmethod
    def level_key(window: int) -> str:
        return f"chaos.level|{HOST}|line=a,window={window}"

    async def run(self, stop: asyncio.Event) -> None:
        start = time.time()
        seq = 0
        # Stop only at a window's end, so every window both fires and resolves.
        while not (stop.is_set() and seq % WINDOW == 0):
            ts = start + seq * STEP_S
            window, pos = divmod(seq, WINDOW)
            level = 90.0 if pos < HIGH else 10.0
            samples = [
                contracts.MetricSample(
                    name="chaos.level", value=level, labels={"line": "a", "window": str(window)}
                ),
                contracts.MetricSample(name="chaos.steady", value=float(seq)),
            ]
            batch = contracts.MetricBatch(host=HOST, group="chaos", ts=ts, samples=samples)
            msg_id = f"{HOST}:chaos:{int(ts * 1000)}"
            await self.bus.publish_retrying(contracts.metric(HOST, "chaos"), batch, msg_id=msg_id)
            self.published[self.level_key(window)] += 1
            self.published[f"chaos.steady|{HOST}|"] += 1
            seq += 1
            if seq % WINDOW == 0:
                self.windows += 1
            await asyncio.sleep(max(0.0, start + seq * STEP_S - time.time()))


def history_counts(db: Path) -> Counter[str]:
    """Raw samples stored per chaos series in analyzer-history.sqlite (read directly)."""
    counts: Counter[str] = Counter()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.name, s.host, s.labels, r.n FROM hist_raw r "
            "JOIN hist_series s ON s.id = r.series_id WHERE s.name LIKE 'chaos.%'"
        )
        for name, host, labels, n in rows:
            flat = ",".join(f"{k}={v}" for k, v in sorted(json.loads(labels).items()))
            counts[f"{name}|{host}|{flat}"] += n
    return counts


def raw_timestamps_unique(db: Path) -> bool:
    """No series holds the same sample time twice (chunks: uint32 ms offsets then values)."""
    seen: dict[int, set[int]] = {}
    with sqlite3.connect(db) as conn:
        for sid, start, n, data in conn.execute(
            "SELECT series_id, start_ms, n, data FROM hist_raw"
        ):
            offsets = struct.unpack_from(f"<{n}I", data)
            stamps = seen.setdefault(sid, set())
            for off in offsets:
                if start + off in stamps:
                    return False
                stamps.add(start + off)
    return True


def transitions(db: Path) -> Counter[tuple[str, str]]:
    """(window label, to_state) → rows of alerts_transition for the chaos rule."""
    out: Counter[tuple[str, str]] = Counter()
    if not db.exists():
        return out
    with sqlite3.connect(db) as conn:
        for labels, state in conn.execute(
            "SELECT labels, to_state FROM alerts_transition WHERE rule = 'chaos-high'"
        ):
            out[(json.loads(labels)["window"], state)] += 1
    return out


async def stream_events(bus: Bus) -> tuple[int, Counter[tuple[str, str]]]:
    """Every AlertEvent of the chaos rule on VIGIL_ALERT: (raw count, per (window, state))."""
    info = await bus.js.stream_info("VIGIL_ALERT")
    out: Counter[tuple[str, str]] = Counter()
    raw = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await bus.js.get_msg("VIGIL_ALERT", seq)
        except Exception:
            continue  # deleted
        event = contracts.Codec().decode_as(msg.data or b"", contracts.AlertEvent)
        if event.rule == "chaos-high":
            raw += 1
            out[(event.labels["window"], event.state)] += 1
    return raw, out


RULES = """\
rules:
  - name: chaos-high
    condition: 'chaos.level{{line="a"}} > 50'
    severity: warning
    notify: [chaos-hook]
    group_by: [window]
    repeat: 1h
receivers:
  - name: chaos-hook
    kind: webhook
    urls: ["{url}"]
    retries: 20
    backoff: 0.1s
    timeout: 2s
"""
