"""The event contract: tags, round trips, subjects, schema output."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
import pytest

from services.core import contracts as c
from services.core.eventsdoc import EXAMPLES


@pytest.mark.parametrize("kind", c.EVENT_TYPES, ids=lambda k: k.__name__)
def test_every_event_round_trips_by_its_tag(kind: type[c.Event]) -> None:
    codec = c.Codec()
    event = EXAMPLES[kind]
    data = codec.encode(event)
    assert json.loads(data)["schema"] == c.schema_tag(kind)
    assert codec.decode(data) == event


def test_tags_are_versioned_and_unique() -> None:
    tags = [c.schema_tag(k) for k in c.EVENT_TYPES]
    assert len(set(tags)) == len(tags)
    assert all(t.startswith("vigil.") and t.rsplit("/", 1)[1].isdigit() for t in tags)


def test_events_are_frozen() -> None:
    event = EXAMPLES[c.KpiUpdate]
    with pytest.raises(AttributeError):
        event.process = "other"  # type: ignore[misc]


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    data = b'{"schema":"vigil.kpi_update/1","process":"packing","future_field":1}'
    assert c.Codec().decode(data) == c.KpiUpdate(process="packing")


def test_bad_payload_raises_a_decode_error_naming_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.process"):
        c.Codec().decode(b'{"schema":"vigil.kpi_update/1","process":5}')


def test_subject_tokens_are_ascii_and_safe() -> None:
    assert c.work("packing") == "vigil.work.packing"
    assert c.metric("line 1.pc", "host") == "vigil.metric.line_1_pc.host"
    assert c.alert("warning", "cpu>80") == "vigil.alert.warning.cpu_80"
    assert c.fs_changed("포장") == "vigil.fs.__.changed"
    assert c.token("") == "_"


def test_vigil_schema_prints_every_event() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "schema"], capture_output=True, check=True
    ).stdout
    defs = json.loads(out)["$defs"]
    for kind in c.EVENT_TYPES:
        assert kind.__name__ in defs


def test_vigil_schema_one_event_and_unknown_name() -> None:
    one = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "schema", "work_batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert json.loads(one)["$ref"].endswith("/WorkBatch")
    bad = subprocess.run(
        [sys.executable, "-m", "services.core.cli", "schema", "nope"], capture_output=True
    )
    assert bad.returncode == 2
    assert b"unknown event 'nope'" in bad.stderr
