"""Settings of the metric collectors (ingest) and of the metric history (analyzer)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# DESIGN §5: every collector interval is at least one second.
Interval = Annotated[float, msgspec.Meta(ge=1.0)]


class HostCollectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """CPU, load, memory, swap, disks, network and uptime of this machine (psutil)."""

    enabled: bool = True
    interval_s: Interval = 5.0
    per_core: bool = True
    # File systems whose usage is not worth a series (pseudo and snapshot mounts).
    skip_fstypes: list[str] = msgspec.field(
        default_factory=lambda: ["squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs"]
    )


class ProcessCollectorSettings(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Process totals and the top processes by CPU (off by default: programs cover theirs)."""

    enabled: bool = False
    interval_s: Interval = 10.0
    top: Annotated[int, msgspec.Meta(ge=0, le=100)] = 5


class GpuCollectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """NVIDIA GPUs through NVML; silently off when no driver is present."""

    enabled: bool = True
    interval_s: Interval = 5.0


class MqttMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One MQTT topic filter turned into a metric.

    ``name`` and label values may use ``{1}``, ``{2}`` … for the topic's levels
    (1-based), e.g. topic ``plant/+/temp`` with labels ``{line = "{2}"}``.
    ``field`` picks a number out of a JSON object payload (dotted path); when
    empty the payload must be a plain number (or a JSON number).
    """

    topic: str
    name: str
    labels: dict[str, str] = {}
    field: str = ""
    scale: float = 1.0


class MqttBridgeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Subscribe to an MQTT broker and publish what arrives as metrics."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str = ""
    password: str = ""
    client_id: str = ""
    qos: Literal[0, 1] = 0
    # Samples are batched and published at most this often.
    interval_s: Interval = 1.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    mappings: list[MqttMapping] = []


class CollectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[ingest.collectors]``: each collector enabled and timed separately."""

    host: HostCollectorSettings = HostCollectorSettings()
    processes: ProcessCollectorSettings = ProcessCollectorSettings()
    gpu: GpuCollectorSettings = GpuCollectorSettings()
    mqtt: MqttBridgeSettings = MqttBridgeSettings()


class HistorySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[analyzer.history]``: tiers, retention and query limits of the metric history."""

    # Off: nothing consumes vigil.metric.>, queries answer from what is stored.
    enabled: bool = True
    raw_retention_h: Annotated[float, msgspec.Meta(gt=0)] = 24.0
    minute_retention_d: Annotated[float, msgspec.Meta(gt=0)] = 7.0
    hour_retention_d: Annotated[float, msgspec.Meta(ge=30)] = 365.0
    # Relative accuracy of the quantile sketches (0.01 = values within 1 %).
    sketch_accuracy: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] = 0.01
    max_points: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 1000
    # Accepted but not needed: every consumed batch is committed before it is acknowledged,
    # so samples are queryable as soon as they are fetched (kept so older configs load).
    flush_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    retention_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # Series per history; a flood of label values beyond this is refused (counted).
    max_series: Annotated[int, msgspec.Meta(ge=1)] = 50_000
