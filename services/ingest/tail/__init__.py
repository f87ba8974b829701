"""Exactly-once tailing of log folders: watch, identify, read, publish, checkpoint."""

from services.ingest.tail.component import FileIngest

__all__ = ["FileIngest"]
