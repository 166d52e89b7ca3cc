"""Reading the journal for tools: every line checked, nothing ever written.

The server's replay (:meth:`~conserje.eventlog.jsonl.JsonlJournal.replay`) cuts an
unfinished write off the end of the last segment; this reader never does. It makes the
same checks as replay, line by line and in order (each line's seal and chain, the
global ``seq``, each chat's ``version``, whole appends), and one more: each segment is
named exactly after the ``seq`` that follows the one before (replay, which may start
from a snapshot, only looks for gaps). So a journal :func:`verify_journal` finds intact
is one the server opens as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conserje.errors import JournalCorrupt
from conserje.eventlog.codec import GENESIS, BadLine, open_line
from conserje.eventlog.events import Event

# The append bookkeeping replay itself uses, so the two can never disagree on a line.
from conserje.eventlog.jsonl import PendingAppend
from conserje.eventlog.segments import Segment, list_segments

__all__ = ["Problem", "ReadLine", "VerifyReport", "journal_bytes", "read_journal", "verify_journal"]


@dataclass(frozen=True)
class ReadLine:
    """One checked line: where it is, how many bytes it takes, and its event."""

    segment: Path
    line: int
    raw_size: int
    event: Event


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
    return _Scan(directory).lines()


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
        for read in scan.lines():
            events += 1
            done += read.raw_size
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

    def lines(self) -> Iterator[ReadLine]:
        segments = list_segments(self.directory)
        self.segments = len(segments)
        self.bytes = _size(segments)
        for index, segment in enumerate(segments):
            if segment.first_seq != self._seq + 1:
                raise JournalCorrupt(segment.path, 1, self._misplaced(segment.first_seq))
            yield from self._segment(segment, last=index == len(segments) - 1)

    def _misplaced(self, first_seq: int) -> str:
        expected = self._seq + 1
        if first_seq > expected:
            return f"segment missing: no file holds seq {expected} to {first_seq - 1}"
        return f"the file name says it starts at seq {first_seq}, but seq {expected} comes next"

    def _segment(self, segment: Segment, *, last: bool) -> Iterator[ReadLine]:
        append = PendingAppend(self._seq, self._h)
        pending: list[ReadLine] = []
        with segment.path.open("rb") as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    sealed = open_line(raw, append.h)
                    append.add(sealed, self._versions)
                except BadLine as exc:
                    # Iterating a file, a line without its newline can only be the last one.
                    if last and not raw.endswith(b"\n"):
                        start = pending[0].line if pending else lineno
                        self.tail = Problem(segment.path, start, exc.reason)
                        return
                    raise JournalCorrupt(segment.path, lineno, exc.reason) from exc
                pending.append(ReadLine(segment.path, lineno, len(raw), sealed.event))
                if sealed.more == 0:
                    self._seq, self._h = append.seq, append.h
                    self._versions.update(append.versions)
                    yield from pending
                    append, pending = PendingAppend(self._seq, self._h), []
        if pending:
            reason = f"the last append was cut short after {len(pending)} of its lines"
            if not last:
                raise JournalCorrupt(segment.path, pending[0].line, reason)
            self.tail = Problem(segment.path, pending[0].line, reason)


def _size(segments: list[Segment]) -> int:
    return sum(segment.path.stat().st_size for segment in segments)
