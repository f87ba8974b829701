"""File identity: device + inode + a fingerprint of the first line, so moves are not re-read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

FINGERPRINT_MAX = 4096  # bytes of the first line that identify the file
TAIL_BYTES = 64  # bytes before the checkpoint that prove the content was not rewritten
_PREAD = getattr(os, "pread", None)


def pread(fd: int, size: int, offset: int) -> bytes:
    """``os.pread`` where it exists; seek + read on Windows (each fd has one reader)."""
    if _PREAD is not None:
        return _PREAD(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def open_for_reading(path: str) -> int:
    """A raw read-only descriptor (binary on Windows, where the flag exists)."""
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def read_fingerprint(fd: int, size: int) -> str | None:
    """Hash of the first line (up to FINGERPRINT_MAX bytes); None while that line is incomplete."""
    head = pread(fd, min(size, FINGERPRINT_MAX), 0)
    newline = head.find(b"\n")
    if newline >= 0:
        return _digest(head[: newline + 1])
    if len(head) >= FINGERPRINT_MAX:
        return _digest(head)
    return None


def tail_digest(data: bytes) -> str:
    """Digest of the last TAIL_BYTES of consumed bytes (what sits just before the offset)."""
    return _digest(data[-TAIL_BYTES:])


def read_tail_digest(fd: int, offset: int) -> str:
    """The digest of the TAIL_BYTES before ``offset`` as the file holds them now."""
    start = max(0, offset - TAIL_BYTES)
    return tail_digest(pread(fd, offset - start, start))


@dataclass(slots=True)
class TrackedFile:
    """What ingest knows about one file: identity, checkpoint, and a batch in flight."""

    source: str
    path: str
    dev: int
    inode: int
    fingerprint: str
    generation: int = 0
    offset: int = 0  # bytes acknowledged by JetStream
    line: int = 0  # lines before ``offset``
    tail: str = ""  # tail_digest of the bytes before ``offset``
    pending_end: int = 0  # a batch [offset, pending_end) was sent but not yet acknowledged
    pending_line: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.inode)

    @property
    def file_id(self) -> str:
        """dev:inode:fingerprint, plus ~generation once the content was replaced in place."""
        base = f"{self.dev}:{self.inode}:{self.fingerprint}"
        return f"{base}~{self.generation}" if self.generation else base

    def restart(self, fingerprint: str) -> None:
        """The content was replaced (truncation, rewrite, inode reuse): read from the start."""
        self.fingerprint = fingerprint
        self.generation += 1
        self.offset = self.line = self.pending_end = self.pending_line = 0
        self.tail = ""
