"""Output pump: copies a program's stdout/stderr (our stdin) into size-rotated files.

Run as a separate tiny process (``python -I pump.py DIR MAX_BYTES BACKUPS``), stdlib only,
so a program's output keeps flowing while the ingest service restarts: the program writes
into a pipe whose reader is this pump, not ingest. It exits when the program (and anything
it forked that holds the pipe) is gone.
"""

from __future__ import annotations

import os
import signal
import sys

OUTPUT_NAME = "output.log"
CHUNK = 65536


class RotatingFile:
    """Appends bytes to DIR/output.log, rotating to output.log.1 … .N at MAX_BYTES."""

    def __init__(self, folder: str, max_bytes: int, backups: int) -> None:
        self.folder = folder
        self.max_bytes = max(1024, max_bytes)
        self.backups = max(0, backups)
        self.path = os.path.join(folder, OUTPUT_NAME)
        os.makedirs(folder, exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size

    def rotate(self) -> None:
        os.close(self.fd)
        if self.backups == 0:
            os.truncate(self.path, 0)
        else:
            for n in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{n}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = 0

    def write(self, data: bytes) -> None:
        while data:
            room = self.max_bytes - self.size
            if room <= 0:
                self.rotate()
                continue
            # Cut at the last newline that fits, so rotated files hold whole lines when possible.
            part = data[:room]
            if len(data) > room:
                cut = part.rfind(b"\n")
                if cut >= 0:
                    part = part[: cut + 1]
                elif self.size > 0:
                    self.rotate()
                    continue
            os.write(self.fd, part)
            self.size += len(part)
            data = data[len(part) :]


def main(argv: list[str]) -> int:
    folder, max_bytes, backups = argv[0], int(argv[1]), int(argv[2])
    # The program's stop signal goes to the program; the pump ends at end of input.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    out: RotatingFile | None
    try:
        out = RotatingFile(folder, max_bytes, backups)
    except OSError as exc:
        # Keep reading anyway: a program must not die of SIGPIPE because its log can't be kept.
        print(f"vigil output pump: cannot write {folder}: {exc}", file=sys.stderr)
        out = None
    stdin = sys.stdin.fileno()
    while True:
        try:
            data = os.read(stdin, CHUNK)
        except InterruptedError:
            continue
        if not data:
            return 0
        if out is not None:
            try:
                out.write(data)
            except OSError:  # disk full and friends: drop output, keep the program running
                pass


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
