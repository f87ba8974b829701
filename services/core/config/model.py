"""The settings tree: common fields plus one section per service (each in its own module)."""

from __future__ import annotations

import socket
from pathlib import Path

import msgspec

from services.core.config.sections import (
    AlertsSettings,
    AnalyzerSettings,
    GatewaySettings,
    IngestSettings,
)


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the broker is. An empty ``url`` means: start the embedded nats-server."""

    # One or more URLs, comma separated; empty: `vigil up` starts an embedded server.
    url: str = ""
    # The embedded server's client port (127.0.0.1 only).
    port: int = 4222
    # The embedded server's MQTT listener for devices (0 = off).
    mqtt_port: int = 0
    # The embedded server's soft memory limit in MB (Go's GOMEMLIMIT; 0 = none). Without it
    # nats-server keeps ~100 MB of stream caches under a steady load; with 64 it stays ~50 MB.
    memory_limit_mb: int = 64
    # JetStream replicas of Vigil's streams (3 on a 3-node cluster).
    replicas: int = 1
    # Seconds one connection attempt may take.
    connect_timeout_s: float = 5.0
    # How long a service keeps trying to reach NATS at start before giving up.
    connect_deadline_s: float = 30.0
    # Longest pause between reconnection attempts.
    max_reconnect_wait_s: float = 5.0
    # A NATS credentials file (user JWT + seed) for secured servers.
    creds_file: str = ""

    @property
    def embedded(self) -> bool:
        return not self.url

    @property
    def servers(self) -> list[str]:
        if self.url:
            return [u.strip() for u in self.url.split(",") if u.strip()]
        return [f"nats://127.0.0.1:{self.port}"]


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Terminal and file logging."""

    # debug | info | warning | error (also --log-level and VIGIL_LOG_LEVEL).
    level: str = "info"
    # Size at which <data_dir>/logs/<service>.log rotates, and how many old files stay.
    file_max_bytes: int = 10_000_000
    file_backups: int = 5


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything Vigil reads from vigil.toml and the environment; built once per process."""

    # Where SQLite files, the embedded broker's store and logs live.
    data_dir: str = "./data"
    # This machine's name in subjects and payloads (default: the host name).
    node: str = ""
    nats: NatsSettings = NatsSettings()
    log: LogSettings = LogSettings()
    ingest: IngestSettings = IngestSettings()
    analyzer: AnalyzerSettings = AnalyzerSettings()
    alerts: AlertsSettings = AlertsSettings()
    gateway: GatewaySettings = GatewaySettings()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def host(self) -> str:
        """This machine's name as used in subjects and payloads."""
        return self.node or socket.gethostname()

    def db_path(self, service: str) -> Path:
        return self.data_path / f"{service}.sqlite"
