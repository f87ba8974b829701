"""Render docs/EVENTS.md from the contract: ``python -m services.core.eventsdoc > docs/EVENTS.md``.

tests/test_events_doc.py fails when the file and this rendering differ, so the
public API documentation cannot drift from the code.
"""

from __future__ import annotations

import msgspec

from services.core import contracts as c
from services.core.streams import STREAMS, stream_for

PRODUCERS: dict[type[c.Event], str] = {
    c.FileChanged: "ingest",
    c.LogBatch: "ingest",
    c.WorkBatch: "ingest",
    c.ParseError: "ingest",
    c.IngestProgress: "ingest",
    c.MetricBatch: "ingest, gateway (push API), plugins over NATS",
    c.ProgramStatus: "ingest",
    c.ProgramExited: "ingest",
    c.ProgramCommandReply: "ingest (reply to gateway's command request)",
    c.KpiUpdate: "analyzer",
    c.AlertEvent: "alerts",
    c.TargetStatus: "ingest",
    c.AuditEvent: "gateway",
    c.DeadLetter: "any service",
    c.ServiceHealth: "every service (reply)",
}

EXAMPLE_SUBJECTS: dict[type[c.Event], str] = {
    c.FileChanged: c.fs_changed("work"),
    c.LogBatch: c.log("applog"),
    c.WorkBatch: c.work("packing"),
    c.ParseError: c.parse_error("work"),
    c.IngestProgress: c.ingest_progress("work"),
    c.MetricBatch: c.metric("line1-pc", "host"),
    c.ProgramStatus: c.program_status("labeler"),
    c.ProgramExited: c.program_exited("labeler"),
    c.ProgramCommandReply: c.program_cmd("labeler", "restart"),
    c.KpiUpdate: c.kpi("packing"),
    c.AlertEvent: c.alert("warning", "cpu-high"),
    c.TargetStatus: c.target_status("erp-api"),
    c.AuditEvent: c.audit("login"),
    c.DeadLetter: c.dead_letter("analyzer"),
    c.ServiceHealth: c.api("analyzer", "health"),
}

_PATH = "C:/Sync/포장실작업이벤트로그_김민준_20261121.csv"
EXAMPLES: dict[type[c.Event], c.Event] = {
    c.FileChanged: c.FileChanged(
        source="work", path=_PATH, kind="modified", size=48213, file_id="2049:1311:9f2c", ts=1.7e9
    ),
    c.LogBatch: c.LogBatch(
        source="applog",
        path="/var/log/app.jsonl",
        file_id="2049:77:ab12",
        start=0,
        end=58,
        parser="jsonl",
        records=[c.LogRecord(line=1, ts="2026-11-21T08:00:01", fields={"level": "info"})],
    ),
    c.WorkBatch: c.WorkBatch(
        source="work",
        path=_PATH,
        file_id="2049:1311:9f2c",
        start=1024,
        end=1100,
        process="packing",
        worker="김민준",
        events=[
            c.WorkEvent(
                line=17,
                ts="2026-11-21T08:15:02",
                worker="김민준",
                process="packing",
                event="SCAN_OK",
                details={"barcode": "A123-000042", "interval_sec": 4.2},
                offset=1024,
            )
        ],
    ),
    c.ParseError: c.ParseError(
        source="work", path=_PATH, line=18, reason="bad timestamp '2026-13-01'", raw="2026-13-01,…"
    ),
    c.IngestProgress: c.IngestProgress(
        source="work", files_done=3, files_total=10, bytes_done=1 << 20, bytes_total=1 << 22
    ),
    c.MetricBatch: c.MetricBatch(
        host="line1-pc",
        group="host",
        ts=1.7e9,
        samples=[c.MetricSample(name="cpu.percent", value=12.5, labels={"cpu": "total"})],
    ),
    c.ProgramStatus: c.ProgramStatus(
        program_id="labeler", state="running", pid=4242, cpu_percent=3.5, rss_mb=81.2, threads=4
    ),
    c.ProgramExited: c.ProgramExited(
        program_id="labeler", pid=4242, exit_code=1, expected=False, reason="exited with code 1"
    ),
    c.ProgramCommandReply: c.ProgramCommandReply(
        program_id="labeler", action="restart", result="done", state="running"
    ),
    c.KpiUpdate: c.KpiUpdate(
        process="packing", changed=["total_trays"], values={"total_trays": 41.0}, sessions_added=1
    ),
    c.AlertEvent: c.AlertEvent(
        fingerprint="cpu-high:9a1f",
        rule="cpu-high",
        severity="warning",
        state="firing",
        value=86.0,
        labels={"host": "line1-pc"},
        summary="CPU above 80 % for 5 m",
        started_at=1.7e9,
    ),
    c.TargetStatus: c.TargetStatus(target_id="erp-api", kind="http", status="up", response_ms=42.0),
    c.AuditEvent: c.AuditEvent(actor="admin", action="login", ok=True, remote="10.0.0.5"),
    c.DeadLetter: c.DeadLetter(
        service="analyzer", subject="vigil.work.packing", reason="undecodable", payload="{…"
    ),
    c.ServiceHealth: c.ServiceHealth(service="analyzer", ok=True, pid=4100, uptime_s=3600.0),
}


def _stream_name(subject: str) -> str:
    spec = stream_for(subject)
    return spec.name if spec else "— (core NATS, request/reply)"


def render() -> str:
    """The whole of docs/EVENTS.md."""
    enc = msgspec.json.Encoder()
    out = [
        "# Vigil events (public API)",
        "",
        "Generated from `services/core/contracts.py` by "
        "`python -m services.core.eventsdoc > docs/EVENTS.md`; a test fails when they differ.",
        "",
        "Every payload is JSON (msgspec) with a `schema` tag `vigil.<name>/<version>`. New fields",
        "always get defaults, so consumers must ignore fields they do not know. Durable publishes",
        "carry a `Nats-Msg-Id` header (batches: `<file_id>:<start>-<end>`), so JetStream drops a",
        "retried publish inside the stream's duplicate window. `vigil schema [NAME]` prints the",
        "JSON Schema of each event. Subject tokens are ASCII: anything else becomes `_`.",
        "",
        "## Subjects",
        "",
        "| subject | payload (schema) | producer | stream |",
        "|---|---|---|---|",
    ]
    for kind in c.EVENT_TYPES:
        subject = EXAMPLE_SUBJECTS[kind]
        out.append(
            f"| `{c.SUBJECTS[kind]}` | {kind.__name__} (`{c.schema_tag(kind)}`) "
            f"| {PRODUCERS[kind]} | {_stream_name(subject)} |"
        )
    out += [
        "",
        "Request/reply queries are NATS micro services on `vigil.api.<service>.<method>`",
        "(queue group `vigil-<service>`); errors come back in the `Nats-Service-Error` and",
        "`Nats-Service-Error-Code` headers. Commands use `vigil.cmd.program.<id>.<action>`.",
        "With `[analyzer]` or `[alerts] partitions` above 1, instance k answers on",
        "`vigil.api.<service>.p<k>.<method>` and only `health` stays on the plain subject",
        "(docs/DEPLOY.md §4: which partition owns what, and how the gateway merges).",
        "",
        "## Streams",
        "",
        "| stream | subjects | max age | duplicate window | purpose |",
        "|---|---|---|---|---|",
    ]
    for spec in STREAMS:
        subjects = ", ".join(f"`{s}`" for s in spec.subjects)
        out.append(
            f"| {spec.name} | {subjects} | {spec.max_age_s / 86400:g} d "
            f"| {spec.duplicate_window_s:g} s | {spec.description} |"
        )
    out += ["", "## Events", ""]
    for kind in c.EVENT_TYPES:
        doc = (kind.__doc__ or "").strip().splitlines()[0]
        example = msgspec.json.format(enc.encode(EXAMPLES[kind]), indent=2).decode()
        out += [
            f"### {kind.__name__}",
            "",
            doc,
            "",
            f"- subject: `{c.SUBJECTS[kind]}` (e.g. `{EXAMPLE_SUBJECTS[kind]}`)",
            f"- producer: {PRODUCERS[kind]}",
            f"- stream: {_stream_name(EXAMPLE_SUBJECTS[kind])}",
            "",
            "```json",
            example,
            "```",
            "",
        ]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
