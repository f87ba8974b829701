"""The partition settings: defaults change nothing, a wrong index is one clear line."""

from __future__ import annotations

import pytest

from services.core.config import ConfigError, load_settings
from services.core.partition import api, host_owner, owner, stable_hash, suffix


def test_defaults_keep_todays_names_and_subjects() -> None:
    settings = load_settings(None, {})
    assert (settings.alerts.partitions, settings.alerts.partition) == (1, 0)
    assert (settings.analyzer.partitions, settings.analyzer.partition) == (1, 0)
    assert suffix(0, 1) == "" and suffix(1, 2) == "-p1"
    assert api("alerts", "active") == "vigil.api.alerts.active"
    assert api("alerts", "active", 1, 2) == "vigil.api.alerts.p1.active"
    assert owner("anything", 1) == 0


def test_environment_sets_the_partition() -> None:
    env = {"VIGIL_ALERTS_PARTITIONS": "3", "VIGIL_ALERTS_PARTITION": "2"}
    settings = load_settings(None, env)
    assert (settings.alerts.partitions, settings.alerts.partition) == (3, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_ALERTS_PARTITION": "1"}, "alerts: partition: 1 must be below partitions (1)"),
        ({"VIGIL_ANALYZER_PARTITIONS": "0"}, "analyzer.partitions: Expected `int` >= 1"),
    ],
)
def test_a_wrong_partition_is_one_line_naming_the_setting(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    assert message in str(info.value)


def test_the_owner_is_stable_across_processes() -> None:
    # crc32, not the salted hash(): these values are the same in every process and version.
    assert stable_hash("cpu.percent") == 0xFEEA6DF4
    assert [host_owner(f"pc{i}", 2) for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert host_owner("line1.pc", 4) == host_owner("line1_pc", 4)  # the subject token decides
