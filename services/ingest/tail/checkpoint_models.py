"""The offsets checkpoint schema (<data_dir>/ingest-offsets.sqlite).

The source of ``checkpoint_tables.py`` (``python -m services.core.tablegen``); the
service itself uses the generated core table and never imports this module.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class IngestFileOffset(SQLModel, table=True):
    """One row per (source, device, inode): where reading stopped and what was in flight."""

    __tablename__ = "ingest_file_offsets"

    source: str = Field(primary_key=True)
    dev: int = Field(primary_key=True)
    inode: int = Field(primary_key=True)
    fingerprint: str
    generation: int = 0
    path: str
    offset: int = 0
    line: int = 0
    tail: str = ""
    pending_end: int = 0
    pending_line: int = 0
    updated: float = 0.0
