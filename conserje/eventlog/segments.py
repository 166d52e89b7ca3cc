"""The journal's files: numbered segments in one directory, each named by its first seq."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from conserje.errors import JournalCorrupt

__all__ = ["Segment", "fsync_dir", "list_segments", "segment_path"]

_NAME = re.compile(r"^(\d{20})\.jsonl$")


@dataclass(frozen=True)
class Segment:
    """One segment file; ``first_seq`` is the seq of its first line."""

    path: Path
    first_seq: int


def segment_path(directory: Path, first_seq: int) -> Path:
    """Return the path of the segment that starts at ``first_seq``."""
    return directory / f"{first_seq:020d}.jsonl"


def list_segments(directory: Path) -> list[Segment]:
    """Return the directory's segments in order.

    Raises:
        JournalCorrupt: a file in the directory looks like a segment but is misnamed.
    """
    if not directory.exists():
        return []
    segments = []
    for entry in sorted(directory.iterdir()):
        if entry.suffix != ".jsonl":
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise JournalCorrupt(entry, 0, "not a segment name (expected 20 digits + .jsonl)")
        segments.append(Segment(entry, int(match.group(1))))
    return segments


def fsync_dir(directory: Path) -> None:
    """Make a directory's new or renamed entries durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
