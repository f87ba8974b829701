"""The MQTT bridge against real brokers: nats-server's MQTT listener and Debian's mosquitto."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from services.core.broker import EmbeddedBroker
from services.core.bus import Bus
from services.core.config import NatsSettings
from services.core.config.metrics import (
    CollectorSettings,
    GpuCollectorSettings,
    HostCollectorSettings,
    MqttBridgeSettings,
    MqttMapping,
)
from services.core.contracts import MetricBatch
from services.ingest.collectors.mqtt_payload import parse_value, topic_matches
from services.ingest.collectors.scheduler import CollectorScheduler
from services.ingest.collectors.validate import MetricRejected
from tests.conftest import free_port, wait_for

MAPPINGS = [
    MqttMapping(topic="plant/+/temp", name="device.temp_c", labels={"line": "{2}"}),
    MqttMapping(
        topic="plant/+/power", name="device.power_w", labels={"line": "{2}"}, field="power.w"
    ),
    MqttMapping(topic="plant/+/rpm", name="device.rpm", labels={"line": "{2}"}, scale=60.0),
]


def test_topic_matching_and_payload_parsing() -> None:
    assert topic_matches("plant/a/temp", "plant/+/temp")
    assert topic_matches("plant/a/b/c", "plant/#")
    assert not topic_matches("plant/a/b/temp", "plant/+/temp")
    assert parse_value(b" 21.5 ", "", "t") == 21.5
    assert parse_value(b'{"power": {"w": 7}}', "power.w", "t") == 7.0
    for payload, field, reason in [
        (b"hello", "", "neither a number nor JSON"),
        (b'{"w": "x"}', "w", "not a number"),
        (b'{"a": 1}', "w", "no field"),
        (b'{"a": 1}', "", "not a number"),
        (b"\xff\xfe", "", "not UTF-8"),
        (b"", "", "empty"),
    ]:
        with pytest.raises(MetricRejected, match=reason):
            parse_value(payload, field, "t")


@pytest.fixture
async def mqtt_nats(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedBroker, int]]:
    """nats-server with its MQTT listener (MQTT needs JetStream and a server name)."""
    port = free_port()
    broker = EmbeddedBroker(tmp_path / "broker", port=-1, mqtt_port=port)
    await broker.start()
    try:
        yield broker, port
    finally:
        await broker.stop()


async def _bridge(
    nats_url: str, mqtt_port: int, **mqtt: object
) -> tuple[Bus, CollectorScheduler, list[MetricBatch]]:
    bus = await Bus.connect(NatsSettings(url=nats_url), "test")
    await bus.ensure_streams()
    got: list[MetricBatch] = []

    async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
        got.append(msgspec.json.decode(msg.data, type=MetricBatch))

    await bus.nc.subscribe("vigil.metric.>", cb=on_msg)
    settings = CollectorSettings(
        host=HostCollectorSettings(enabled=False),
        gpu=GpuCollectorSettings(enabled=False),
        mqtt=MqttBridgeSettings(
            enabled=True,
            port=mqtt_port,
            mappings=MAPPINGS,
            interval_s=1.0,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
            **mqtt,  # type: ignore[arg-type]
        ),
    )
    scheduler = CollectorScheduler(settings, bus, "edge1")
    await scheduler.start()
    return bus, scheduler, got


def _samples(got: list[MetricBatch]) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("line", "")): s.value for b in got for s in b.samples}


async def test_bridge_maps_messages_from_aiomqtt_and_mosquitto_pub(mqtt_nats) -> None:  # type: ignore[no-untyped-def]
    broker, port = mqtt_nats
    bus, scheduler, got = await _bridge(broker.client_url, port)
    try:
        assert scheduler.mqtt is not None
        await wait_for(lambda: scheduler.mqtt.connected, timeout=15)
        async with aiomqtt.Client("127.0.0.1", port, identifier="pub-test") as client:
            await client.publish("plant/line1/temp", b"21.5")
            await client.publish("plant/line1/power", b'{"power": {"w": 350}}')
            await client.publish("plant/line2/rpm", b"2.5")
            await client.publish("plant/line1/temp", b"not-a-number")  # rejected, counted
            await client.publish("plant/line1/power", b'{"power": {"w": "high"}}')  # rejected
            await client.publish("other/topic", b"1")  # not subscribed → never seen
        if shutil.which("mosquitto_pub"):
            await asyncio.to_thread(
                subprocess.run,
                [
                    "mosquitto_pub",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-t",
                    "plant/line3/temp",
                    "-m",
                    "19.25",
                    "-i",
                    "mosq-pub",
                ],
                check=True,
                timeout=20,
            )
        want = {
            ("device.temp_c", "line1"): 21.5,
            ("device.power_w", "line1"): 350.0,
            ("device.rpm", "line2"): 150.0,
        }
        if shutil.which("mosquitto_pub"):
            want[("device.temp_c", "line3")] = 19.25
        await wait_for(lambda: want.items() <= _samples(got).items(), timeout=15)
        await wait_for(lambda: scheduler.mqtt.rejected == 2, timeout=5)
        assert (
            "neither a number nor JSON" in scheduler.mqtt.stats()["last_error"]
            or "not a number" in scheduler.mqtt.stats()["last_error"]
        )
        assert all(b.group == "mqtt" and b.host == "edge1" for b in got)
        # Stored durably too: the batches are in the VIGIL_METRIC stream.
        info = await bus.js.stream_info("VIGIL_METRIC")
        assert info.state.messages >= 1
    finally:
        await scheduler.stop()
        await bus.close()


@pytest.mark.skipif(
    not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists(),
    reason="Debian mosquitto not installed (bootstrap.py installs it as root)",
)
async def test_bridge_reconnects_after_broker_restart(nats_url: str, tmp_path: Path) -> None:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    proc = start()
    bus, scheduler, got = await _bridge(nats_url, port)
    try:
        assert scheduler.mqtt is not None
        await wait_for(lambda: scheduler.mqtt.connected, timeout=15)
        proc.terminate()
        proc.wait(10)
        await wait_for(lambda: not scheduler.mqtt.connected, timeout=15)
        proc = start()
        await wait_for(
            lambda: scheduler.mqtt.connected and scheduler.mqtt.connects >= 2, timeout=20
        )
        await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "plant/l9/temp", "-m", "7"],
            check=True,
            timeout=20,
        )
        await wait_for(lambda: _samples(got).get(("device.temp_c", "l9")) == 7.0, timeout=15)
    finally:
        await scheduler.stop()
        await bus.close()
        proc.terminate()
        proc.wait(10)
