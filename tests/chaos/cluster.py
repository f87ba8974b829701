"""A local 3-node JetStream cluster of real nats-servers, for the chaos tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from pathlib import Path

from services.core.broker import READY_LINE, nats_server_binary
from tests.conftest import free_port


@dataclass
class Node:
    """One cluster node and its process."""

    name: str
    client_port: int
    route_port: int
    store: Path
    conf: Path
    proc: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


class LocalCluster:
    """Three nodes with routes to each other on loopback; nodes can be killed and restarted."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.nodes = [
            Node(f"n{i}", free_port(), free_port(), root / f"n{i}" / "js", root / f"n{i}.conf")
            for i in range(1, size + 1)
        ]
        routes = "\n".join(f'    "nats-route://127.0.0.1:{n.route_port}"' for n in self.nodes)
        for node in self.nodes:
            node.store.mkdir(parents=True, exist_ok=True)
            node.conf.write_text(
                f'server_name: "{node.name}"\n'
                f'listen: "127.0.0.1:{node.client_port}"\n'
                f'jetstream {{ store_dir: "{node.store}" }}\n'
                "cluster {\n"
                '  name: "vigil-test"\n'
                f'  listen: "127.0.0.1:{node.route_port}"\n'
                f"  routes: [\n{routes}\n  ]\n"
                "}\n"
            )

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    async def start_node(self, node: Node) -> None:
        node.proc = await asyncio.create_subprocess_exec(
            str(nats_server_binary()),
            "-c",
            str(node.conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert node.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(node.proc.stderr.readline(), 30)
            if not raw:
                raise RuntimeError(f"{node.name} exited: {node.output[-5:]}")
            node.output.append(raw.decode(errors="replace"))
            if READY_LINE in node.output[-1]:
                break
        asyncio.get_running_loop().create_task(self._drain(node.proc))

    @staticmethod
    async def _drain(proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while await proc.stderr.readline():
            pass

    async def start(self) -> None:
        await asyncio.gather(*(self.start_node(n) for n in self.nodes))

    async def kill(self, node: Node) -> None:
        if node.proc and node.proc.returncode is None:
            node.proc.send_signal(signal.SIGKILL)
            await node.proc.wait()

    async def stop(self) -> None:
        for node in self.nodes:
            if node.proc and node.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc:
                try:
                    await asyncio.wait_for(node.proc.wait(), 5)
                except TimeoutError:
                    node.proc.kill()
                    await node.proc.wait()
