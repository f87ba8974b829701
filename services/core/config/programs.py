"""Settings of program supervision: the programs ingest starts or watches (DESIGN §4)."""

from __future__ import annotations

from typing import Literal

import msgspec

RestartPolicy = Literal["never", "on-failure", "always"]
OnIngestStop = Literal["stop", "leave"]


class MatchRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to find a process Vigil did not start: any non-empty field must match."""

    process_name: str = ""
    cmdline_regex: str = ""
    pid_file: str = ""

    @property
    def empty(self) -> bool:
        return not (self.process_name or self.cmdline_regex or self.pid_file)


class ProgramSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One program: how to start it (argv, never a shell string) or how to match it."""

    id: str
    name: str = ""
    argv: list[str] = []
    cwd: str = ""
    env: dict[str, str] = {}
    autostart: bool = True
    restart: RestartPolicy = "on-failure"
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    # A run at least this long resets the retry count (the program was healthy).
    reset_after_s: float = 60.0
    # Exiting sooner than this after start is a failed start, not a run.
    start_secs: float = 1.0
    # Exit codes that count as an expected exit (state "exited", no alert).
    exit_codes: list[int] = msgspec.field(default_factory=lambda: [0])
    stop_signal: str = "SIGTERM"
    stop_timeout_s: float = 2.0
    output_max_bytes: int = 1_000_000
    output_backups: int = 3
    match: MatchRule = MatchRule()

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def matched(self) -> bool:
        """Watched only: a process Vigil did not start, found by the match rule."""
        return not self.match.empty


class ProgramsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Program supervision as a whole."""

    # "stop": children stop with ingest (within ~2 s, before `vigil up` kills ingest);
    # "leave": they keep running and the next ingest adopts them by pid + start time.
    on_ingest_stop: OnIngestStop = "stop"
    sample_interval_s: float = 5.0
    # Polling period for adopted/matched processes without a pidfd, and for match scans.
    poll_interval_s: float = 0.5
    # TOML: one [[ingest.programs.program]] table per program.
    program: list[ProgramSpec] = []
