"""The alert list as text (labels apart, a readable value), action cells that stay table cells,
the alert badge in the header."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from services.core.bus import Bus
from tests.alerts.helpers import FakeClock, alert_settings, capture, running, send_metric
from tests.conftest import free_port
from tests.gateway_harness import running_gateway

RULES = """
- name: fpy-low
  condition: 'fpy < 0.95'
  severity: warning
  summary: First-pass yield below 95 %
"""


def text_of(html: str) -> str:
    """What a reader, a screen reader or a copy-paste gets: the text without the tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


async def test_labels_separated_and_value_rounded(
    make_settings: Any, tmp_path: Path, bus: Bus
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES, encoding="utf-8")
    clock = FakeClock()
    settings = alert_settings(make_settings, rules)
    async with (
        capture(bus) as seen,
        running(settings, clock, bus),
        running_gateway(make_settings(gateway={"port": free_port()})) as gw,
    ):
        operator = await gw.client("operator")
        await send_metric(bus, "fpy", 7 / 9, clock(), line="l1", process="inspection")
        await seen.wait_state("firing")
        html = (await operator.get("/ui/fragments/alerts")).text
        text = text_of(html)
        # Was "line=l1metric=fpyprocess=inspection": the label chips had nothing between them.
        assert "host=testhost line=l1 metric=fpy process=inspection" in text
        assert "0.7778" in text and "0.777778" not in text
        # The buttons' flex row sits inside the cell; a flex <td> broke the table's rows.
        assert '<td class="row">' not in html
        assert 'data-testid="ack"' in html
        # The badge slot lives in the header: fixed at the bottom left it covered page content
        # (a program's state, the backup button).
        page = (await operator.get("/", headers={"accept": "text/html"})).text
        header = page[page.index('<header class="top">') : page.index("</header>")]
        assert 'data-testid="alert-badge-slot"' in header
        assert "position:fixed; bottom" not in page.split("#alert-toasts")[0]
        admin = await gw.client("admin")
        settings_page = (await admin.get("/settings", headers={"accept": "text/html"})).text
        assert 'data-user="test-admin"' in settings_page
        assert '<td class="row">' not in settings_page
