"""Find a running process Vigil did not start, by pid file, process name or command line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil

from services.core.config.programs import MatchRule


def _from_pid_file(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
        pid = int(text.split()[0]) if text else 0
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and psutil.pid_exists(pid) else None


def find_process(rule: MatchRule, exclude: set[int] | None = None) -> int | None:
    """The pid of the oldest process matching every non-empty part of ``rule``, or None."""
    skip = {os.getpid(), *(exclude or set())}
    if rule.pid_file:
        pid = _from_pid_file(rule.pid_file)
        if pid is None or pid in skip:
            return None
        if not (rule.process_name or rule.cmdline_regex):
            return pid
        candidates = [psutil.Process(pid)] if psutil.pid_exists(pid) else []
    else:
        candidates = list(psutil.process_iter(["name", "cmdline", "create_time"]))
    pattern = re.compile(rule.cmdline_regex) if rule.cmdline_regex else None
    best: tuple[float, int] | None = None
    for proc in candidates:
        try:
            if proc.pid in skip or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if rule.process_name and proc.name() != rule.process_name:
                continue
            if pattern is not None and not pattern.search(" ".join(proc.cmdline())):
                continue
            created = proc.create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if best is None or created < best[0]:
            best = (created, proc.pid)
    return best[1] if best else None
