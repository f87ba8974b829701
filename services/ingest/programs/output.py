"""Where a program's captured output lives, and reading its tail across rotated files."""

from __future__ import annotations

from pathlib import Path

from services.ingest.programs.pump import OUTPUT_NAME

MAX_TAIL_LINES = 2000
_READ_BLOCK = 65536


def output_dir(data_dir: Path, program_id: str) -> Path:
    return data_dir / "programs" / program_id


def output_files(folder: Path) -> list[Path]:
    """The current file first, then output.log.1, .2, … (newest to oldest)."""
    current = folder / OUTPUT_NAME
    files = [current] if current.exists() else []
    n = 1
    while (folder / f"{OUTPUT_NAME}.{n}").exists():
        files.append(folder / f"{OUTPUT_NAME}.{n}")
        n += 1
    return files


def _tail_bytes(path: Path, want_lines: int) -> list[bytes]:
    """The last ``want_lines`` lines of one file, reading backwards in blocks."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            pos = fh.tell()
            buf = b""
            while pos > 0 and buf.count(b"\n") <= want_lines:
                step = min(_READ_BLOCK, pos)
                pos -= step
                fh.seek(pos)
                buf = fh.read(step) + buf
    except OSError:
        return []
    lines = buf.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if pos > 0:
        lines = lines[1:]  # the first piece may be a partial line
    return lines[-want_lines:] if want_lines else []


def tail(folder: Path, lines: int = 200) -> list[str]:
    """The last ``lines`` lines of a program's output, oldest first, decoded leniently."""
    lines = max(0, min(lines, MAX_TAIL_LINES))
    collected: list[bytes] = []
    for path in output_files(folder):
        need = lines - len(collected)
        if need <= 0:
            break
        collected = _tail_bytes(path, need) + collected
    return [raw.decode("utf-8", "replace") for raw in collected]
