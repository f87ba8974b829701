"""The check shared by the partitioned sections ([analyzer] and [alerts])."""

from __future__ import annotations


def check_partition(partition: int, partitions: int) -> None:
    """Raise ValueError (reported by the loader with the section) when out of range."""
    if partition >= partitions:
        raise ValueError(
            f"partition: {partition} must be below partitions ({partitions}); "
            f"instances are numbered 0 .. {partitions - 1}"
        )
