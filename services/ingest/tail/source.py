"""One source: identify files, read new lines, publish batches, checkpoint after the PubAck."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from services.core import contracts
from services.core.bus import Bus
from services.core.config.ingest import SourceSettings
from services.core.logs import get_logger
from services.ingest.parsers import Parser, make_parser
from services.ingest.parsers.base import Line, Parsed, cut_raw
from services.ingest.tail.checkpoint import CheckpointStore
from services.ingest.tail.counters import SourceCounters
from services.ingest.tail.hot import HotFiles
from services.ingest.tail.identity import (
    TrackedFile,
    open_for_reading,
    pread,
    read_fingerprint,
    read_tail_digest,
)
from services.ingest.tail.outbox import Outbox
from services.ingest.tail.progress import BackfillProgress
from services.ingest.tail.reader import Chunk, read_chunk
from services.ingest.tail.watcher import FolderWatcher, PathMatcher, scan

log = get_logger("ingest")
HEADER_MAX = 65_536
PAYLOAD_SHARE = 0.9  # keep batches under this share of the server's max_payload
BACKFILL_WORKERS = 16  # files read at once during the first pass


class Stopped(Exception):
    """Ingest is shutting down while a publish was still unacknowledged."""


@dataclass(frozen=True, slots=True)
class TailContext:
    """What every source shares: the bus, the checkpoint store, the side channel."""

    bus: Bus
    store: CheckpointStore
    outbox: Outbox
    host: str
    stop: asyncio.Event
    progress_interval_s: float = 0.5
    progress_log_interval_s: float = 5.0


class SourceTailer:
    """Tails every matching file of one folder exactly once into JetStream."""

    def __init__(self, source: SourceSettings, ctx: TailContext) -> None:
        self.source = source
        self.ctx = ctx
        self.root = Path(source.path)
        self.matcher = PathMatcher(self.root, source.include, source.exclude)
        self.counters = SourceCounters()
        self.by_key: dict[tuple[int, int], TrackedFile] = {}
        self.by_path: dict[str, TrackedFile] = {}
        self.parsers: dict[tuple[int, int], Parser] = {}
        self.dirty: dict[str, str] = {}
        self.wake = asyncio.Event()
        self.rescan_due = True
        self.warned: set[str] = set()
        self.progress = BackfillProgress(
            source.name,
            ctx.host,
            ctx.outbox,
            interval_s=ctx.progress_interval_s,
            log_interval_s=ctx.progress_log_interval_s,
        )
        self.backfilled = asyncio.Event()
        # Network and synced folders (force_polling) are not stat-ed every millisecond.
        self.hot = (
            None if source.force_polling else HotFiles(self._grew, source.watch_step_ms / 1000)
        )

    # ------------------------------------------------------------ loop

    async def run(self) -> None:
        for state in self.ctx.store.load(self.source.name):
            self.by_key[state.key] = state
        watcher = FolderWatcher(
            self.source, self.matcher, self.mark, self.request_rescan, self.ctx.stop
        )
        watch_task = asyncio.create_task(watcher.run(), name=f"watch-{self.source.name}")
        try:
            await self.backfill()
            while not self.ctx.stop.is_set():
                await self._wait_for_work()
                if self.source.batch_linger_ms:
                    await asyncio.sleep(self.source.batch_linger_ms / 1000)
                if self.rescan_due:
                    self.rescan_due = False
                    await self._rescan()
                batch, self.dirty = self.dirty, {}
                for path, kind in batch.items():
                    await self.process(path, kind)
        except Stopped:
            pass
        finally:
            watch_task.cancel()
            if self.hot is not None:
                self.hot.close()

    async def _wait_for_work(self) -> None:
        if self.dirty or self.rescan_due:
            return
        self.wake.clear()
        # A timer rather than wait_for: no task per wait, so a change is read a hop sooner.
        timer = asyncio.get_running_loop().call_later(
            self.source.rescan_interval_s, self.request_rescan
        )
        try:
            await self.wake.wait()
        finally:
            timer.cancel()

    def mark(self, path: str, kind: str) -> None:
        """A watch event: publish FileChanged and queue the path for reading."""
        state = self.by_path.get(path)
        size = 0
        if kind != "deleted":
            try:
                size = os.stat(path).st_size
            except OSError:
                pass
        self._changed(path, kind, size, self._wire_id(state) if state else "")
        if path not in self.dirty:
            self.dirty[path] = kind
        self.wake.set()

    def _grew(self, path: str) -> None:
        """A hot file grew again (no FileChanged: the watch reports the change too)."""
        self.dirty.setdefault(path, "modified")
        self.wake.set()

    def request_rescan(self) -> None:
        self.rescan_due = True
        self.wake.set()

    def _changed(self, path: str, kind: str, size: int = 0, file_id: str = "") -> None:
        event = contracts.FileChanged(
            source=self.source.name,
            path=path,
            kind=kind,  # type: ignore[arg-type]
            size=size,
            file_id=file_id,
            host=self.ctx.host,
            ts=time.time(),
        )
        self.ctx.outbox.put(contracts.fs_changed(self.source.name), event)

    # ------------------------------------------------------------ scanning

    def _listing(self) -> list[tuple[float, str, int, tuple[int, int]]]:
        found = []
        for path in scan(self.root, self.matcher, self.source.recursive):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((st.st_mtime, path, st.st_size, (st.st_dev, st.st_ino)))
        found.sort()  # oldest first
        return found

    async def backfill(self) -> None:
        """First pass over existing files, oldest first, with progress."""
        self.rescan_due = False
        listing = await asyncio.to_thread(self._listing) if self.root.is_dir() else []
        todo = []
        for _mtime, path, size, key in listing:
            known = self.by_key.get(key)
            remaining = size - (known.offset if known else 0)
            if remaining > 0 or known is None or known.pending_end:
                todo.append((path, max(remaining, 0)))
        self.progress.begin(len(todo), sum(n for _, n in todo))
        queue = iter(todo)

        async def worker() -> None:
            # Several files in flight at once: their checkpoints share commits, their
            # publishes share round trips. Each file is still read by one worker, in order.
            for path, _ in queue:
                await self.process(path, None)
                self.progress.advance(files=1)

        await asyncio.gather(*(worker() for _ in range(BACKFILL_WORKERS)))
        self.progress.finish()
        self.backfilled.set()

    async def _rescan(self) -> None:
        if not self.root.is_dir():
            return
        listing = await asyncio.to_thread(self._listing)
        seen = set()
        for _mtime, path, size, key in listing:
            seen.add(path)
            state = self.by_path.get(path)
            if state is None or state.key != key or state.offset != size or state.pending_end:
                self.dirty.setdefault(path, "modified")
        for path in list(self.by_path):
            if path not in seen:
                self.dirty.setdefault(path, "deleted")

    # ------------------------------------------------------------ one file

    async def process(self, path: str, kind: str | None) -> None:
        """Read whatever is new in ``path``; every failure here is a message, never a crash."""
        try:
            fd = open_for_reading(path)
        except FileNotFoundError:
            await self._gone(path)
            return
        except OSError as exc:
            self._warn_once(path, f"cannot open {path}: {exc.strerror or exc}")
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return
            previous = self.by_path.get(path)
            if previous is not None and previous.key != (st.st_dev, st.st_ino):
                await self._finish_rotated(previous)
            state = self._identify(path, fd, st)
            if state is not None:
                before = state.offset
                await self._drain(state, fd, st.st_size)
                if self.hot is not None and self.backfilled.is_set() and state.offset > before:
                    self.hot.touch(path, st.st_size)
        except OSError as exc:
            self._warn_once(path, f"cannot read {path}: {exc.strerror or exc}")
        finally:
            os.close(fd)

    async def _gone(self, path: str) -> None:
        state = self.by_path.pop(path, None)
        if self.hot is not None:
            self.hot.forget(path)
        if state is not None:
            # The state stays known by device+inode: a file moved elsewhere resumes there.
            log.info("file gone", source=self.source.name, path=path)
            await self._finish_rotated(state)

    async def _finish_rotated(self, state: TrackedFile) -> None:
        """Renamed to a name this source does not watch (app.log → app.log.1): read its rest."""
        folder = os.path.dirname(state.path) or "."
        try:
            entries = [e for e in os.scandir(folder) if e.inode() == state.inode]
        except OSError:
            return
        for entry in entries:
            if self.matcher(entry.path):
                return  # still watched under its new name: its own event reads it
            try:
                fd = open_for_reading(entry.path)
            except OSError:
                return
            try:
                st = os.fstat(fd)
                same = (st.st_dev, st.st_ino) == state.key and stat.S_ISREG(st.st_mode)
                if not same or read_fingerprint(fd, st.st_size) != state.fingerprint:
                    return
                if st.st_size > state.offset:
                    log.info("reading the rest of a rotated file", old=state.path, new=entry.path)
                    state.path = entry.path
                    await self._drain(state, fd, st.st_size)
            finally:
                os.close(fd)
            return

    def _warn_once(self, path: str, message: str) -> None:
        """A file-level problem: one log line and one ParseError (line 0) per file and run."""
        if path in self.warned:
            return
        self.warned.add(path)
        self.counters.errors += 1
        log.warning(message, source=self.source.name)
        error = contracts.ParseError(
            source=self.source.name,
            path=path,
            line=0,
            reason=message,
            host=self.ctx.host,
            ts=time.time(),
        )
        self.ctx.outbox.put(contracts.parse_error(self.source.name), error)

    def _identify(self, path: str, fd: int, st: os.stat_result) -> TrackedFile | None:
        fingerprint = read_fingerprint(fd, st.st_size)
        if fingerprint is None:
            return None  # no complete first line yet: nothing to read either
        key = (st.st_dev, st.st_ino)
        previous = self.by_path.get(path)
        if previous is not None and previous.key != key:
            self.by_path.pop(path)  # rotated by rename, or deleted and re-created
        state = self.by_key.get(key)
        if state is None:
            state = TrackedFile(self.source.name, path, key[0], key[1], fingerprint)
            self.by_key[key] = state
            self.counters.files += 1
        elif state.fingerprint != fingerprint:
            state.restart(fingerprint)  # the inode now holds another file
            self.parsers.pop(key, None)
            self._changed(path, "rotated", st.st_size, self._wire_id(state))
        elif state.offset and (
            st.st_size < state.offset or read_tail_digest(fd, state.offset) != state.tail
        ):
            log.info("file truncated or rewritten; reading from the start", path=path)
            state.restart(fingerprint)
            self.parsers.pop(key, None)
            self._changed(path, "rotated", st.st_size, self._wire_id(state))
        if state.path != path:
            if self.by_path.get(state.path) is state:
                self.by_path.pop(state.path)
            log.info("file moved", source=self.source.name, old=state.path, new=path)
            self._changed(path, "rotated", st.st_size, self._wire_id(state))
            state.path = path
        self.by_path[path] = state
        return state

    def _parser(self, state: TrackedFile, fd: int) -> Parser | None:
        parser = self.parsers.get(state.key)
        if parser is not None:
            return parser
        try:
            parser = make_parser(self.source, state.path)
        except ValueError as exc:
            self._warn_once(state.path, f"file skipped: {exc}")
            return None
        if state.offset > 0:
            head = pread(fd, min(HEADER_MAX, state.offset), 0)
            parser.prime(Line(1, 0, head.split(b"\n", 1)[0]))
        self.parsers[state.key] = parser
        return parser

    async def _drain(self, state: TrackedFile, fd: int, size: int) -> None:
        max_records = self.source.batch_max_records
        while not self.ctx.stop.is_set():
            replay = state.pending_end > state.offset
            limit = state.pending_end if replay else size
            if limit <= state.offset:
                return
            parser = self._parser(state, fd)
            if parser is None:
                return
            chunk = read_chunk(
                fd,
                state.offset,
                state.line,
                limit,
                max_bytes=limit - state.offset if replay else self.source.batch_max_bytes,
                max_records=1 << 62 if replay else max_records,
                max_line=self.source.max_line_bytes,
            )
            if chunk.end == state.offset:
                return
            parsed = parser.parse(chunk.lines)
            subject, event = parser.batch(
                source=self.source.name,
                host=self.ctx.host,
                path=state.path,
                file_id=self._wire_id(state),
                start=chunk.start,
                end=chunk.end,
                records=parsed.records,
            )
            if parsed.records and not replay and len(chunk.lines) > 1 and self._too_big(event):
                max_records = max(1, len(chunk.lines) // 2)
                self.parsers.pop(state.key, None)  # it saw the header; a fresh one re-primes
                continue
            await self._commit(state, chunk, parsed, subject, event)
            max_records = self.source.batch_max_records
            self.progress.advance(nbytes=chunk.size)

    def _too_big(self, event: contracts.Event) -> bool:
        limit = self.ctx.bus.nc.max_payload or (1 << 20)
        return len(self.ctx.bus.codec.encode(event)) > limit * PAYLOAD_SHARE

    async def _commit(
        self,
        state: TrackedFile,
        chunk: Chunk,
        parsed: Parsed,
        subject: str,
        event: contracts.Event,
    ) -> None:
        """Store the intent, publish, then checkpoint: a restart re-sends the very same msg id."""
        file_id = self._wire_id(state)
        if parsed.records or parsed.errors:
            state.pending_end, state.pending_line = chunk.end, chunk.next_line
            self.ctx.store.commit(state)  # inline: tens of microseconds, no thread hop
            if parsed.records:
                await self._publish(subject, event, f"{file_id}:{chunk.start}-{chunk.end}")
                self.counters.batches += 1
                self.counters.records += len(parsed.records)
            if parsed.errors:
                await asyncio.gather(
                    *(
                        self._publish(
                            contracts.parse_error(self.source.name),
                            contracts.ParseError(
                                source=self.source.name,
                                path=state.path,
                                line=err.line,
                                reason=err.reason,
                                raw=cut_raw(err.raw),
                                host=self.ctx.host,
                                ts=time.time(),
                            ),
                            f"{file_id}:{err.offset}:error",
                        )
                        for err in parsed.errors
                    )
                )
                self.counters.errors += len(parsed.errors)
        state.offset, state.line, state.tail = chunk.end, chunk.next_line, chunk.tail
        state.pending_end = state.pending_line = 0
        self.ctx.store.save(state)  # committed with the next intent, or FLUSH_DELAY_S later
        self.counters.bytes += chunk.size

    def _wire_id(self, state: TrackedFile) -> str:
        """The file id on the wire: host and source first, so that identically imaged PCs
        (same device and inode numbers, same header line) never share message ids."""
        return f"{self.ctx.host}/{self.source.name}/{state.file_id}"

    async def _publish(self, subject: str, event: contracts.Event, msg_id: str) -> None:
        ack = await self.ctx.bus.publish_retrying(subject, event, msg_id=msg_id, stop=self.ctx.stop)
        if ack is None:
            raise Stopped
