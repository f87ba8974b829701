"""Watch one folder with watchfiles (tuned for latency); wait for it when it does not exist yet."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from watchfiles import Change, awatch

from services.core.config.ingest import SourceSettings
from services.core.logs import get_logger

log = get_logger("ingest")
KINDS = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}
# watchfiles groups changes for up to ``debounce`` ms while they keep coming; a short
# bound keeps a file that is written continuously from waiting 1.6 s (the default).
DEBOUNCE_MS = 50
EXISTS_CHECK_MS = 1000


class PathMatcher:
    """Include/exclude globs: against the file name, or the relative path when they hold '/'."""

    def __init__(self, root: Path, include: list[str], exclude: list[str]) -> None:
        self.root = str(root)
        self.include = [unicodedata.normalize("NFC", g) for g in include]
        self.exclude = [unicodedata.normalize("NFC", g) for g in exclude]

    def _hit(self, globs: list[str], name: str, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel if "/" in g else name, g) for g in globs)

    def __call__(self, path: str) -> bool:
        rel = unicodedata.normalize("NFC", os.path.relpath(path, self.root)).replace(os.sep, "/")
        name = rel.rsplit("/", 1)[-1]
        return self._hit(self.include, name, rel) and not self._hit(self.exclude, name, rel)


def scan(root: Path, matcher: PathMatcher, recursive: bool) -> Iterator[str]:
    """Every matching regular file below ``root``; unreadable folders are skipped, not fatal."""
    if recursive:
        for folder, _dirs, files in os.walk(root, onerror=_walk_error):
            for name in files:
                path = os.path.join(folder, name)
                if matcher(path):
                    yield path
        return
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        _walk_error(exc)
        return
    for entry in entries:
        if entry.is_file() and matcher(entry.path):
            yield entry.path


def _walk_error(exc: OSError) -> None:
    log.warning("cannot list folder", path=exc.filename, error=exc.strerror or str(exc))


class FolderWatcher:
    """Reports matching file changes; tells when a folder appeared so the owner can rescan."""

    def __init__(
        self,
        source: SourceSettings,
        matcher: PathMatcher,
        on_change: Callable[[str, str], None],
        on_rescan: Callable[[], None],
        stop: asyncio.Event,
    ) -> None:
        self.source = source
        self.root = Path(source.path)
        self.matcher = matcher
        self.on_change = on_change
        self.on_rescan = on_rescan
        self.stop = stop

    def _filter(self, change: Change, path: str) -> bool:
        # New folders pass too: files moved in with them may predate the folder's watch.
        return self.matcher(path) or (change == Change.added and os.path.isdir(path))

    async def run(self) -> None:
        waiting_logged = False
        while not self.stop.is_set():
            if not self.root.is_dir():
                if not waiting_logged:
                    log.warning(
                        "watched folder does not exist yet; waiting for it",
                        source=self.source.name,
                        path=str(self.root),
                    )
                    waiting_logged = True
                await self._sleep(max(0.2, self.source.poll_interval_ms / 1000))
                continue
            if waiting_logged:
                log.info("watched folder appeared", source=self.source.name, path=str(self.root))
                waiting_logged = False
            # Anything written before the watch began is found by a scan.
            self.on_rescan()
            try:
                await self._watch()
            except Exception as exc:
                log.warning("watch failed; restarting", source=self.source.name, error=str(exc))
                await self._sleep(1.0)

    async def _watch(self) -> None:
        first = True
        async for changes in awatch(
            self.root,
            watch_filter=self._filter,
            debounce=DEBOUNCE_MS,
            step=self.source.watch_step_ms,
            stop_event=self.stop,
            rust_timeout=EXISTS_CHECK_MS,
            yield_on_timeout=True,
            force_polling=self.source.force_polling,
            poll_delay_ms=self.source.poll_interval_ms,
            recursive=self.source.recursive,
            ignore_permission_denied=True,
        ):
            if first:
                # The watch is surely set up by its first report (at most EXISTS_CHECK_MS):
                # a scan now catches what changed while it was being set up.
                first = False
                self.on_rescan()
            for change, path in changes:
                if self.matcher(path):
                    self.on_change(path, KINDS.get(change, "modified"))
                elif change == Change.added:
                    self.on_rescan()
            if not self.root.is_dir():
                log.warning("watched folder vanished", source=self.source.name)
                return

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            pass
