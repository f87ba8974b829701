"""Structured logging: ``ts level service message key=value`` to the terminal and a rotated file."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "authorization", "cookie")
_FORMAT_FIELDS = "vigil_fields"


def _redact(key: str, value: Any) -> Any:
    lowered = key.lower()
    return "***" if any(word in lowered for word in _SECRET_WORDS) else value


def _render(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """One line per record: UTC timestamp, level, service, message, then key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}Z"
        service = record.name.removeprefix("vigil.")
        fields = getattr(record, _FORMAT_FIELDS, {})
        parts = [stamp, f"{record.levelname:<7}", service, record.getMessage()]
        parts += [f"{k}={_render(_redact(k, v))}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info and record.levelno >= logging.ERROR:
            # The one-line tail keeps terminals readable; the file handler gets the trace.
            exc = record.exc_info[1]
            line += f" exc={_render(repr(exc))}"
        return line


class FileFormatter(KeyValueFormatter):
    """Like the terminal format, plus the traceback for debugging."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, redirected streams)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class Log:
    """A logger taking key=value fields: ``log.info("published", subject=s, n=10)``."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(f"vigil.{name}")

    def _log(self, level: int, msg: str, exc: bool, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, exc_info=exc, extra={_FORMAT_FIELDS: fields})

    def debug(self, msg: str, **fields: Any) -> None:
        self._log(logging.DEBUG, msg, False, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._log(logging.INFO, msg, False, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._log(logging.WARNING, msg, False, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._log(logging.ERROR, msg, False, fields)

    def exception(self, msg: str, **fields: Any) -> None:
        self._log(logging.ERROR, msg, True, fields)

    def is_debug(self) -> bool:
        return self._logger.isEnabledFor(logging.DEBUG)


class RotatingFile(logging.FileHandler):
    """A log file that rolls over by size: ``x.log`` → ``x.log.1`` … ``x.log.<backups>``.

    The same scheme as logging.handlers.RotatingFileHandler, without importing that module
    (pickle, queue, socket handlers: ~0.5 MB in `vigil up`, which needs none of them).
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self.max_bytes = max_bytes
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._full(record):
                self._roll()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def _full(self, record: logging.LogRecord) -> bool:
        if self.max_bytes <= 0 or self.stream is None:
            return False
        line = self.format(record) + self.terminator
        return self.stream.tell() + len(line.encode("utf-8", "replace")) > self.max_bytes

    def _roll(self) -> None:
        if self.stream is not None:
            self.stream.close()
        name = self.baseFilename
        for k in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{name}.{k}"):
                os.replace(f"{name}.{k}", f"{name}.{k + 1}")
        if self.backups > 0:
            os.replace(name, f"{name}.1")
        else:
            os.truncate(name, 0)
        self.stream = self._open()


def get_logger(name: str) -> Log:
    return Log(name)


def setup_logging(
    service: str,
    level: str = "info",
    log_dir: Path | None = None,
    *,
    max_bytes: int = 10_000_000,
    backups: int = 5,
) -> None:
    """Configure the root 'vigil' logger for one process (called once from main())."""
    root = logging.getLogger("vigil")
    root.handlers.clear()
    root.setLevel(level.upper())
    root.propagate = False
    terminal = StderrHandler()
    terminal.setFormatter(KeyValueFormatter())
    root.addHandler(terminal)
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            file = RotatingFile(log_dir / f"{service}.log", max_bytes=max_bytes, backups=backups)
            file.setFormatter(FileFormatter())
            root.addHandler(file)
        except OSError as exc:
            root.warning("file logging disabled: %s", exc)
    # Third-party chatter stays at warning unless we debug.
    for noisy in ("nats", "uvicorn.access", "watchfiles", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level.lower() == "debug" else "WARNING")
