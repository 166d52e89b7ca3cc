"""The journal's files: numbered segments in one directory, each named by its first seq.

A segment closed by rotation gets a digest file next to it (``<segment>.sha256``): the
SHA-256 of the whole file and its size, as the writer wrote it. Replay reads a closed
segment whose digest still matches in bulk instead of line by line (see
:meth:`~conserje.eventlog.jsonl.JsonlJournal.replay`). A digest file is only ever a
shortcut: one that is missing, damaged or does not match sends replay back to checking
every line, so it can make replay slower, never make it accept a bad line.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

from conserje.errors import JournalCorrupt

__all__ = [
    "Segment",
    "SegmentDigest",
    "digest_path",
    "fsync_dir",
    "list_segments",
    "read_digest",
    "segment_path",
    "write_digest",
]

_NAME = re.compile(r"^(\d{20})\.jsonl$")
_DIGEST_SUFFIX = ".sha256"


class SegmentDigest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a closed segment held when the writer closed it.

    Attributes:
        segment: the segment's file name.
        bytes: its size.
        sha256: the SHA-256 of its whole content, in hex.
    """

    segment: str
    bytes: int
    sha256: str

    def matches(self, name: str, data: bytes) -> bool:
        """Whether ``data``, read from the segment called ``name``, is what was closed."""
        return (
            self.segment == name
            and self.bytes == len(data)
            and hashlib.sha256(data).hexdigest() == self.sha256
        )


@dataclass(frozen=True)
class Segment:
    """One segment file; ``first_seq`` is the seq of its first line."""

    path: Path
    first_seq: int


def segment_path(directory: Path, first_seq: int) -> Path:
    """Return the path of the segment that starts at ``first_seq``."""
    return directory / f"{first_seq:020d}.jsonl"


def digest_path(segment: Path) -> Path:
    """Return where the digest of the segment at ``segment`` is kept."""
    return segment.with_name(segment.name + _DIGEST_SUFFIX)


def write_digest(segment: Path, size: int, sha256: str) -> None:
    """Record the digest of a segment that will never be written again.

    Written to a temporary file and renamed, so a crash leaves the old state or the new
    one; not fsynced, because a digest that is lost only makes the next replay slower.
    """
    target = digest_path(segment)
    body = msgspec.json.encode(SegmentDigest(segment.name, size, sha256)) + b"\n"
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(body)
    os.replace(temporary, target)


def read_digest(segment: Path) -> tuple[SegmentDigest | None, str]:
    """Return the digest recorded for ``segment``, or ``None`` and why there is none.

    Never raises for a missing or unreadable digest: replay then checks every line.
    """
    path = digest_path(segment)
    try:
        return msgspec.json.decode(path.read_bytes(), type=SegmentDigest), ""
    except FileNotFoundError:
        return None, "no digest"
    except (OSError, msgspec.MsgspecError) as exc:
        return None, f"digest {path.name} unreadable ({exc})"


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
