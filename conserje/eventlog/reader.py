"""Reading the journal for tools: every line checked, nothing ever written.

The server's replay (:meth:`~conserje.eventlog.jsonl.JsonlJournal.replay`) cuts an
unfinished write off the end of the last segment; this reader never does. It makes the
same checks as replay, with replay's own functions: blocks of whole appends in one tight
pass (:func:`~conserje.eventlog.jsonl.check_block`), and from the first block that fails,
line by line and in order (each line's seal and chain, the global ``seq``, each chat's
``version``, whole appends), which names the first bad line. And one more: each segment
is named exactly after the ``seq`` that follows the one before (replay, which may start
from a snapshot, only looks for gaps). So a journal :func:`verify_journal` finds intact
is one the server opens as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from conserje.errors import JournalCorrupt
from conserje.eventlog.codec import GENESIS, BadLine, open_line
from conserje.eventlog.events import Event

# Replay's own checks (and append bookkeeping), so the two can never disagree on a line.
from conserje.eventlog.jsonl import PendingAppend, appends_end, check_block
from conserje.eventlog.segments import Segment, list_segments

__all__ = ["Problem", "ReadLine", "VerifyReport", "journal_bytes", "read_journal", "verify_journal"]

_READ_BYTES = 1024 * 1024
"""Bytes read from a segment at a time: its blocks are checked as they come."""


@dataclass(frozen=True)
class ReadLine:
    """One checked line: where it is, how many bytes it takes, and its event."""

    segment: Path
    line: int
    raw_size: int
    event: Event


class _Run(NamedTuple):
    """Consecutive checked lines of one segment: the first one's number, the lines, events."""

    segment: Path
    first_line: int
    raw: bytes
    events: list[Event]

    def sizes(self) -> list[int]:
        """Return the size of each line, its newline included."""
        return [len(line) + 1 for line in self.raw.split(b"\n")[:-1]]


@dataclass(frozen=True)
class Problem:
    """Where the journal stops being trustworthy; ``line`` is 1-based, 0 for a whole file."""

    segment: Path
    line: int
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_journal` found.

    Attributes:
        ok: the server would open the journal as it is.
        events: events checked and found intact (an unfinished write is not counted).
        segments: segment files in the journal.
        bytes: their total size.
        first_problem: the first line that cannot be trusted; with ``torn_tail`` it is
            the start of the unfinished write instead, and ``ok`` stays true.
        torn_tail: the last segment ends with a write that a crash cut short. Nobody
            was told it succeeded, and the server removes it at its next start, so it
            is not damage.
    """

    ok: bool
    events: int
    segments: int
    bytes: int
    first_problem: Problem | None
    torn_tail: bool


def journal_bytes(directory: Path) -> int:
    """Return the total size of the journal's segments.

    Raises:
        JournalCorrupt: a file in the directory looks like a segment but is misnamed.
    """
    return _size(list_segments(directory))


def read_journal(directory: Path) -> Iterator[ReadLine]:
    """Yield every intact line of the journal in ``directory``, in order.

    An unfinished write at the end of the last segment is silently left out, as the
    server would leave it out.

    Raises:
        JournalCorrupt: after yielding every line before it, at the first line that
            cannot be trusted (or a segment that is missing or misnamed).
    """
    for run in _Scan(directory).runs():
        for index, size in enumerate(run.sizes()):
            yield ReadLine(run.segment, run.first_line + index, size, run.events[index])


def verify_journal(directory: Path, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check every line of every segment in ``directory`` without changing anything.

    Args:
        directory: the journal's directory (``<data dir>/journal``).
        progress: called now and then with the number of bytes checked so far.

    Raises:
        OSError: a segment cannot be read.
    """
    scan = _Scan(directory)
    events = done = 0
    problem = None
    try:
        for run in scan.runs():
            events += len(run.events)
            done += len(run.raw)
            if progress is not None:
                progress(done)
    except JournalCorrupt as exc:
        problem = Problem(exc.path, exc.line, exc.reason)
    return VerifyReport(
        ok=problem is None,
        events=events,
        segments=scan.segments,
        bytes=scan.bytes,
        first_problem=problem or scan.tail,
        torn_tail=scan.tail is not None,
    )


class _Scan:
    """One pass over a journal; ``tail`` is set when it ends with an unfinished write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.segments = 0
        self.bytes = 0
        self.tail: Problem | None = None
        self._seq = 0
        self._h = GENESIS
        self._versions: dict[str, int] = {}

    def runs(self) -> Iterator[_Run]:
        """Yield the journal's checked lines in order, a block or an append at a time."""
        segments = list_segments(self.directory)
        self.segments = len(segments)
        self.bytes = _size(segments)
        for index, segment in enumerate(segments):
            if segment.first_seq != self._seq + 1:
                raise JournalCorrupt(segment.path, 1, self._misplaced(segment.first_seq))
            with segment.path.open("rb") as f:
                rest, lineno = yield from self._blocks(segment.path, f)
                last = index == len(segments) - 1
                yield from self._lines(segment.path, _raw_lines(rest, f), lineno, last=last)

    def _misplaced(self, first_seq: int) -> str:
        expected = self._seq + 1
        if first_seq > expected:
            return f"segment missing: no file holds seq {expected} to {first_seq - 1}"
        return f"the file name says it starts at seq {first_seq}, but seq {expected} comes next"

    def _blocks(self, path: Path, f: BinaryIO) -> Iterator[_Run]:
        """Check the segment in blocks of whole appends, as they are read.

        Returns (through ``yield from``) the bytes read but not checked, from the first
        block that fails or the end of the last whole append, and their first line's
        number: the line-by-line pass takes it from there.
        """
        # A bytearray, so an append longer than a read only grows it, never copies it.
        data, lineno = bytearray(), 1
        while chunk := f.read(_READ_BYTES):
            data += chunk
            offset = 0
            while (stop := appends_end(data, offset)) > offset:
                block = bytes(data[offset:stop])
                checked = check_block(block, self._seq, self._h, self._versions)
                if checked is None:
                    return bytes(data[offset:]), lineno
                events, self._h = checked
                self._seq += len(events)
                yield _Run(path, lineno, block, events)
                offset, lineno = stop, lineno + len(events)
            del data[:offset]
        return bytes(data), lineno

    def _lines(
        self, path: Path, raws: Iterator[bytes], lineno: int, *, last: bool
    ) -> Iterator[_Run]:
        """Check lines one at a time, each append as it completes; name the first bad line."""
        append = PendingAppend(self._seq, self._h)
        start, lines = lineno, []
        for raw in raws:
            try:
                sealed = open_line(raw, append.h)
                append.add(sealed, self._versions)
            except BadLine as exc:
                # Reading a file, a line without its newline can only be the last one.
                if last and not raw.endswith(b"\n"):
                    self.tail = Problem(path, start, exc.reason)
                    return
                raise JournalCorrupt(path, lineno, exc.reason) from exc
            lines.append(raw)
            lineno += 1
            if sealed.more == 0:
                self._seq, self._h = append.seq, append.h
                self._versions.update(append.versions)
                yield _Run(path, start, b"".join(lines), append.events)
                append, start, lines = PendingAppend(self._seq, self._h), lineno, []
        if lines:
            reason = f"the last append was cut short after {len(lines)} of its lines"
            if not last:
                raise JournalCorrupt(path, start, reason)
            self.tail = Problem(path, start, reason)


def _raw_lines(head: bytes, f: BinaryIO) -> Iterator[bytes]:
    """Yield the lines of ``head`` and then of the rest of ``f``, each with its newline.

    ``head`` was read from ``f`` and may end inside a line that ``f`` goes on with.
    """
    *whole, partial = head.split(b"\n")
    for raw in whole:
        yield raw + b"\n"
    for raw in f:
        yield partial + raw
        partial = b""
    if partial:
        yield partial


def _size(segments: list[Segment]) -> int:
    return sum(segment.path.stat().st_size for segment in segments)
