"""The journal on disk: JSON Lines segments, one writer thread, group commit.

Invariants (the conformance suite in :mod:`conserje.testing.journal_contract` checks
them against every backend):

* ``seq`` is strictly increasing, with no gaps, across all segments.
* Each chat's ``version`` is contiguous from 1.
* An append with ``expected_version`` fails with :class:`JournalConflict` if the
  chat's version moved; nothing of it is written.
* An append's events are written all or nothing, with consecutive ``seq``.
* :meth:`JsonlJournal.append` returns only after an ``fdatasync`` of a batch that
  contains its events; appends waiting together share one ``fdatasync``.
* A failed write or sync is fatal: every later append is refused and the sync is never
  retried (after a failed ``fsync`` the kernel may have dropped the dirty pages, so a
  retry that succeeds proves nothing). The segment is cut back to its last synced size,
  so a restart cannot read the failed batch back from the page cache.
* Every line is sealed and chained (:mod:`conserje.eventlog.codec`). At open, an append
  cut short by a crash at the end of the last segment is removed and reported; a bad
  line anywhere else stops the open, naming the file and line.
* A segment closed by rotation gets a digest of its whole content
  (:func:`~conserje.eventlog.segments.write_digest`). Replay checks a closed segment
  whose digest matches as a whole (the digest, and the first line's link to the chain)
  and decodes it in bulk; any other segment, or one whose digest is missing or does not
  match, is checked line by line, which names the first bad line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

import msgspec

from conserje.errors import JournalConflict, JournalCorrupt, JournalUnavailable
from conserje.eventlog.codec import (
    GENESIS,
    BadLine,
    SealedLine,
    chain_end,
    decode_block,
    ends_append,
    line_hash,
    open_line,
    seal,
)
from conserje.eventlog.events import Event
from conserje.eventlog.groupcommit import CommitQueue, Request, answer
from conserje.eventlog.protocol import check_expected_version
from conserje.eventlog.segments import (
    Segment,
    fsync_dir,
    list_segments,
    read_digest,
    segment_path,
    write_digest,
)

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "AppendedBatch",
    "JsonlJournal",
    "PendingAppend",
    "Position",
    "appends_end",
    "check_block",
]

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_MAX_BATCH = 1024
_COMMIT_DELAY = 0.001
"""Seconds the writer waits for a batch as large as the last (see :mod:`.groupcommit`)."""
_BLOCK_BYTES = 1024 * 1024
"""Bytes of a segment checked and decoded at once (then yielded before the next block)."""
_SEQ, _CHAT, _VERSION = attrgetter("seq"), attrgetter("chat"), attrgetter("version")


@dataclass(frozen=True)
class Position:
    """A point in the journal: after ``seq``, whose line hashed to ``h``.

    A snapshot records one, so replay can start there instead of at the beginning.
    """

    seq: int = 0
    h: str = GENESIS
    versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AppendedBatch:
    """One group commit, as the append observer sees it once it is durable.

    Attributes:
        events: every event the batch wrote, as written (``seq``, ``version``, ``ts``).
        seconds: how long writing the batch took, its ``fdatasync`` included.
        sync_seconds: how long the ``fdatasync`` alone took; ``None`` with fsync off.
    """

    events: list[Event]
    seconds: float
    sync_seconds: float | None


class JsonlJournal:
    """An append-only journal of JSONL segments in one directory.

    Use it in two phases: :meth:`replay` reads what is on disk (once), then
    :meth:`start` opens it for appends.

    Args:
        directory: where the segments live; created if missing.
        clock: wall-clock time in Unix seconds, stamped on each event.
        fsync: make each batch durable with ``fdatasync`` before acknowledging it.
            Turning it off is for development only.
        segment_bytes: start a new segment once the current one reaches this size.
        on_fatal: called once, from the writer thread, when a write or sync fails.
        on_rotate: called from the writer thread with the first seq of each new
            segment; every segment before it is closed for good.
        on_append: observers, each called from the writer thread with each batch once
            it is durable (after its appenders are answered), in order; whatever one
            raises is logged, never passed to the writer nor kept from the others.
    """

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], float],
        fsync: bool = True,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        on_fatal: Callable[[BaseException], None] | None = None,
        on_rotate: Callable[[int], None] | None = None,
        on_append: Iterable[Callable[[AppendedBatch], None]] = (),
    ) -> None:
        self.directory = directory
        self._clock = clock
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._on_fatal = on_fatal
        self._on_rotate = on_rotate
        self._on_append = tuple(on_append)
        self._seq = 0
        self._h = GENESIS
        self._versions: dict[str, int] = {}
        self._requests: CommitQueue[Event] = CommitQueue(_MAX_BATCH, _COMMIT_DELAY)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._replayed = False
        self._closed = False
        self._on_disk = 0
        # None when the open segment could not be read back: it then gets no digest.
        self._content: hashlib._Hash | None = hashlib.sha256()

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event written (0 for an empty journal)."""
        return self._seq

    @property
    def failure(self) -> BaseException | None:
        """The write or sync error that stopped the journal, if any."""
        return self._failure

    def position(self) -> Position:
        """Where the journal ends now; read it only while no append is in progress."""
        return Position(self._seq, self._h, dict(self._versions))

    def replay(
        self, start: Position | None = None, *, before_segment: int | None = None
    ) -> Iterator[Event]:
        """Yield the events after ``start`` (default: all), checking every line.

        It may be called again (from another start) until :meth:`start` is called.

        Args:
            start: where to begin (a snapshot's position); the beginning by default.
            before_segment: read only the segments that start before this seq. Those
                are closed, so nothing is cut from them: this is how a snapshot is
                folded while the server keeps writing the newest segment.

        Raises:
            JournalCorrupt: a line other than the unfinished tail is bad, a segment
                is missing, or seq or a chat's version is out of order.
        """
        if self._thread is not None:
            raise RuntimeError("the journal is open for appends; replay comes before start()")
        self._replayed = True
        start = start or Position()
        self._seq, self._h, self._versions = start.seq, start.h, dict(start.versions)
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = self._needed_segments(list_segments(self.directory), start.seq)
        bounded = before_segment is not None
        if bounded:
            segments = [s for s in segments if s.first_seq < before_segment]
        self._on_disk = 0
        for index, segment in enumerate(segments):
            last = not bounded and index == len(segments) - 1
            # One generator between the caller and each event: the segment readers
            # hand over whole lists (an append, a block), not one event at a time.
            for events in self._replay_segment(segment, last=last):
                yield from events
        if self._on_disk < start.seq:
            raise JournalCorrupt(
                self.directory, 0, f"the journal ends at seq {self._on_disk}, before {start.seq}"
            )

    def _needed_segments(self, segments: list[Segment], after: int) -> list[Segment]:
        if not segments:
            if after:
                raise JournalCorrupt(
                    self.directory, 0, f"no segment holds the events after seq {after}"
                )
            return []
        first = max((i for i, s in enumerate(segments) if s.first_seq <= after + 1), default=None)
        if first is None:
            raise JournalCorrupt(
                segments[0].path, 0, f"segment missing: seq {after + 1} is in no segment"
            )
        return segments[first:]

    def _replay_segment(self, segment: Segment, *, last: bool) -> Iterator[list[Event]]:
        if segment.first_seq > self._seq + 1:
            raise JournalCorrupt(
                segment.path, 0, f"segment missing: seq {self._seq + 1} to {segment.first_seq - 1}"
            )
        data = segment.path.read_bytes()
        if not last and segment.first_seq == self._seq + 1 and self._closed_intact(segment, data):
            yield from self._replay_closed(segment, data)
        else:
            yield from self._replay_lines(segment, data, last=last)

    def _closed_intact(self, segment: Segment, data: bytes) -> bool:
        """Whether a closed segment's digest and its link to the chain vouch for ``data``.

        If not, the segment goes to the line-by-line path, which finds what is wrong.
        """
        digest, missing = read_digest(segment.path)
        if digest is None:
            if missing != "no digest":
                log.warning("journal %s: %s; checking it line by line", segment.path, missing)
            return False
        if not digest.matches(segment.path.name, data):
            log.warning(
                "journal %s: does not match its digest; checking it line by line", segment.path
            )
            return False
        first = data[: data.find(b"\n") + 1]
        try:
            sealed = open_line(first, self._h)
        except BadLine:
            return False
        return sealed.event.seq == segment.first_seq and ends_append(data[-128:])

    def _replay_closed(self, segment: Segment, data: bytes) -> Iterator[list[Event]]:
        """Decode a closed segment vouched for by its digest, one block at a time.

        Its first line was checked against the chain, and the digest proves every byte
        after it is what the writer wrote, so only what bulk decoding cannot take for
        granted is checked: each line is an event (upcast if old) and ``seq`` runs on.
        """
        view = memoryview(data)
        versions = self._versions
        start = 0
        lineno = 1
        while start < len(data):
            stop = data.find(b"\n", start + _BLOCK_BYTES - 1) + 1 or len(data)
            try:
                events = decode_block(view[start:stop])
            except BadLine as exc:
                raise JournalCorrupt(segment.path, lineno + exc.index, exc.reason) from exc
            seq = self._seq
            seqs = list(map(_SEQ, events))
            expected = range(seq + 1, seq + 1 + len(seqs))
            if seqs != list(expected):
                index = next(i for i, s in enumerate(seqs) if s != expected[i])
                raise JournalCorrupt(
                    segment.path, lineno + index, f"seq {seqs[index]} follows {seq + index}"
                )
            versions.update(zip(map(_CHAT, events), map(_VERSION, events), strict=True))
            self._seq, self._h = seq + len(seqs), line_hash(data[stop - 64 : stop])
            lineno += len(seqs)
            start = stop
            yield events
        self._on_disk = self._seq

    def _replay_lines(self, segment: Segment, data: bytes, *, last: bool) -> Iterator[list[Event]]:
        """Check every line of a segment (after the start position), in blocks of appends.

        A block of whole appends is checked in one tight pass (each seal and chain link,
        then seq and each chat's version over the decoded events). The first block with
        anything wrong, and whatever follows the last whole append, go through
        :meth:`_replay_precisely`, which names the bad line or cuts the unfinished tail.
        """
        offset, lineno = self._skip_known(data, segment.first_seq)
        while (stop := appends_end(data, offset)) > offset:
            checked = check_block(data[offset:stop], self._seq, self._h, self._versions)
            if checked is None:
                break
            events, self._h = checked
            self._seq += len(events)
            yield events
            offset, lineno = stop, lineno + len(events)
        yield from self._replay_precisely(segment, data, offset, lineno, last=last)

    def _skip_known(self, data: bytes, first_seq: int) -> tuple[int, int]:
        """Return the offset and number of the first line after the start position."""
        offset = 0
        for _ in range(self._seq - first_seq + 1):
            offset = data.find(b"\n", offset) + 1
            if not offset:
                return len(data), 1
        return offset, max(self._seq - first_seq + 1, 0) + 1

    def _replay_precisely(
        self, segment: Segment, data: bytes, offset: int, lineno: int, *, last: bool
    ) -> Iterator[list[Event]]:
        """Check ``data`` from ``offset`` one line at a time, naming the first bad line."""
        append = PendingAppend(self._seq, self._h)
        append_offset, versions = offset, self._versions
        while offset < len(data):
            end = data.find(b"\n", offset) + 1 or len(data)
            raw = data[offset:end]
            try:
                sealed = open_line(raw, append.h)
                append.add(sealed, versions)
            except BadLine as exc:
                # Only a crash mid-write leaves a last line without its newline; a
                # whole line that fails its checks is damage, however late it is.
                if last and not raw.endswith(b"\n"):
                    self._cut(segment.path, append_offset, f"line {lineno}: {exc.reason}")
                    self._on_disk = self._seq
                    return
                raise JournalCorrupt(segment.path, lineno, exc.reason) from exc
            offset, lineno = end, lineno + 1
            if sealed.more == 0:
                self._seq, self._h = append.seq, append.h
                versions.update(append.versions)
                yield append.events
                append.reset(self._seq, self._h)
                append_offset = offset
        self._on_disk = segment.first_seq + data.count(b"\n") - 1
        if append.events:
            if not last:
                raise JournalCorrupt(segment.path, 0, "the segment ends inside an append")
            self._cut(segment.path, append_offset, "an append was cut short")

    def _cut(self, path: Path, offset: int, reason: str) -> None:
        """Remove an unfinished append from the end of the last segment.

        Its appender was never acknowledged, so nothing anyone relies on is lost.
        """
        size = path.stat().st_size
        log.warning(
            "journal %s: %s (a crash mid-write); removing the last %d bytes",
            path,
            reason,
            size - offset,
        )
        with path.open("r+b") as f:
            f.truncate(offset)
            os.fsync(f.fileno())

    def start(self) -> None:
        """Open the journal for appends (replaying it first if that was not done)."""
        if not self._replayed:
            for _ in self.replay():
                pass
        self._thread = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
        self._thread.start()

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        timeout: float = 10.0,
    ) -> list[Event]:
        """Append ``events`` and return them as written, once they are durable.

        Args:
            events: events to write together, with consecutive ``seq``.
            expected_version: the version the (single) chat of ``events`` must be at;
                ``None`` appends whatever it is.
            timeout: seconds to wait for durability.

        Raises:
            JournalConflict: the chat is not at ``expected_version``.
            JournalUnavailable: the journal is not open, has failed, or did not make
                the events durable within ``timeout`` seconds.
        """
        check_expected_version(events, expected_version)
        if self._failure is not None:
            raise JournalUnavailable(f"journal failed: {self._failure}")
        if self._thread is None or self._closed:
            raise JournalUnavailable("journal is not open for appends")
        request = Request(events, expected_version)
        if not self._requests.put(request):
            raise JournalUnavailable("journal is not open for appends")
        if not request.wait(timeout):
            raise JournalUnavailable(f"append not durable within {timeout} s")
        if request.error is not None:
            raise request.error
        return request.result

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._requests.close()
        self._thread.join(timeout)

    def _write_loop(self) -> None:
        segments = list_segments(self.directory)
        path = segments[-1].path if segments else segment_path(self.directory, self._seq + 1)
        fd = self._open_or_fail(path)
        # The digest the segment gets when it is closed, kept up to date as it grows.
        self._content = _file_sha256(path) if fd >= 0 else None
        size = os.fstat(fd).st_size if fd >= 0 else 0
        try:
            while (batch := self._requests.take()) is not None:
                size += self._commit(fd, batch, size)
                if self._failure is None and size >= self._segment_bytes:
                    os.close(fd)
                    closed, path = path, segment_path(self.directory, self._seq + 1)
                    fd = self._open_or_fail(path)
                    if fd >= 0:
                        # Only once its successor exists: the writer never appends to a
                        # segment that is not the last, so the digest stays true.
                        self._record_digest(closed, size)
                        self._content = hashlib.sha256()
                        size = 0
                        if self._on_rotate is not None:
                            self._on_rotate(self._seq + 1)
        finally:
            if fd >= 0:
                os.close(fd)

    def _open_or_fail(self, path: Path) -> int:
        """Open a segment to append to; if it cannot be, fail the journal as a write would.

        Returns:
            The file descriptor, or -1 once the journal has failed (every later append
            is then refused instead of waiting for a writer that is gone).
        """
        try:
            return self._open_segment(path)
        except OSError as exc:
            self._fail(exc, f"opening {path.name}")
            return -1

    def _record_digest(self, segment: Path, size: int) -> None:
        if self._content is None:
            return
        try:
            write_digest(segment, size, self._content.hexdigest())
        except OSError as exc:
            # The segment itself is durable; without its digest replay checks it line
            # by line, which is slower and as safe, so this is no reason to stop.
            log.warning("journal %s: digest not written (%s)", segment, exc)

    def _open_segment(self, path: Path) -> int:
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if new:
            fsync_dir(self.directory)
        return fd

    def _commit(self, fd: int, batch: list[Request[Event]], durable: int) -> int:
        """Write and sync ``batch``, then answer its requests; return the bytes written.

        ``durable`` is the segment's size before the batch: what is synced (with fsync on).
        """
        if self._failure is not None:
            for request in batch:
                request.error = JournalUnavailable(str(self._failure))
            answer(batch)
            return 0
        seq, h = self._seq, self._h
        versions: dict[str, int] = {}
        accepted: list[Request[Event]] = []
        chunks: list[bytes] = []
        now = self._clock()
        replace = msgspec.structs.replace

        def current(chat: str) -> int:
            return versions.get(chat, self._versions.get(chat, 0))

        for request in batch:
            if request.expected is not None:
                chat = request.events[0].chat
                if current(chat) != request.expected:
                    request.error = JournalConflict(chat, request.expected, current(chat))
                    continue
            out = request.result
            for left, event in enumerate(request.events, start=1 - len(request.events)):
                seq += 1
                version = current(event.chat) + 1
                versions[event.chat] = version
                stamped = replace(event, seq=seq, version=version, ts=now)
                line, h = seal(stamped, h, more=-left)
                out.append(stamped)
                chunks.append(line)
            accepted.append(request)
        started = time.perf_counter()
        synced: float | None = None
        stage = "write"
        data = b"".join(chunks)
        try:
            _write_all(fd, data)
            if self._fsync:
                stage = "fdatasync"
                sync_started = time.perf_counter()
                os.fdatasync(fd)
                synced = time.perf_counter() - sync_started
        except OSError as exc:
            for request in accepted:
                request.error = JournalUnavailable(f"journal {stage} failed: {exc}")
            # Answered before on_fatal runs: whatever stopping the server involves, the
            # appenders of this batch (webhooks waiting to answer 503) are not kept waiting.
            answer(batch)
            self._fail(exc, stage, unsynced=(fd, durable))
            return 0
        seconds = time.perf_counter() - started
        if self._content is not None:
            self._content.update(data)
        self._seq, self._h = seq, h
        self._versions.update(versions)
        answer(batch)
        if self._on_append and accepted:
            self._tell_observers(
                AppendedBatch([e for request in accepted for e in request.result], seconds, synced)
            )
        return len(data)

    def _tell_observers(self, batch: AppendedBatch) -> None:
        for observe in self._on_append:
            try:
                observe(batch)
            except Exception:
                # An observer (metrics, the dashboard) must never stop the writer: the
                # batch is durable and its appenders answered whatever an observer does.
                log.exception("journal %s: append observer %r failed", self.directory, observe)

    def _cut_unsynced(self, fd: int, durable: int) -> None:
        """Remove what the failed batch wrote past ``durable`` from the open segment.

        After a failed ``fdatasync`` the page cache may still hold the batch's lines
        while the disk does not: a restart would read them back, take events no one was
        promised for journaled, and the disk could later show zeros in their place, in
        the middle of the journal. Truncating drops them from the cache as well.
        """
        try:
            os.ftruncate(fd, durable)
            os.fsync(fd)
        except OSError as exc:
            log.critical(
                "journal %s: the unsynced end of the segment could not be removed (%s); "
                "the next start may read back lines that were never acknowledged",
                self.directory,
                exc,
            )
        else:
            log.warning(
                "journal %s: cut back to its last synced size (%d bytes), dropping whatever "
                "the failed batch wrote (none of it was acknowledged)",
                self.directory,
                durable,
            )

    def _fail(self, exc: OSError, stage: str, unsynced: tuple[int, int] | None = None) -> None:
        """Refuse every later append, cut what ``unsynced`` names (fd, size), tell on_fatal."""
        self._failure = exc
        log.critical("journal %s: %s failed, no further appends: %s", self.directory, stage, exc)
        if unsynced is not None:
            self._cut_unsynced(*unsynced)
        if self._on_fatal is not None:
            self._on_fatal(exc)


def check_block(
    block: bytes, seq: int, h: str, versions: dict[str, int]
) -> tuple[list[Event], str] | None:
    """Check a block of whole appends that follows ``seq`` and hash ``h``, in one tight pass.

    The checks of reading line by line (each line's seal and its chain link, then
    ``seq`` and each chat's version over the decoded events), at a fraction of the
    cost; shared by replay and ``conserje log verify``.

    Args:
        block: whole appends (see :func:`appends_end`).
        seq: the ``seq`` of the line before the block.
        h: the hash of the line before the block.
        versions: each chat's version before the block; brought up to date on success.

    Returns:
        The block's events and its last line's hash; ``None`` (``versions`` untouched)
        when any check fails, without saying which: reading line by line says.
    """
    end = chain_end(block, h)
    if end is None:
        return None
    try:
        events = decode_block(block)
    except BadLine:
        return None
    if list(map(_SEQ, events)) != list(range(seq + 1, seq + 1 + len(events))):
        return None
    moved: dict[str, int] = {}
    for event in events:
        chat = event.chat
        if event.version != (moved.get(chat) or versions.get(chat, 0)) + 1:
            return None
        moved[chat] = event.version
    versions.update(moved)
    return events, end


def appends_end(data: bytes, offset: int) -> int:
    """Return where a block of about ``_BLOCK_BYTES`` of whole appends from ``offset`` ends.

    ``offset`` itself when no whole append follows it.
    """
    stop = data.find(b"\n", offset + _BLOCK_BYTES - 1) + 1 or data.rfind(b"\n") + 1
    while stop > offset and not ends_append(data[max(stop - 128, 0) : stop]):
        stop = data.rfind(b"\n", offset, stop - 1) + 1
    return max(stop, offset)


def _file_sha256(path: Path) -> hashlib._Hash | None:
    """Return a SHA-256 fed with the file's content so far, or ``None`` if it cannot be read.

    A segment without a digest is only slower to replay (line by line), so a read error
    here is no reason to stop the writer.
    """
    content = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_BLOCK_BYTES):
                content.update(chunk)
    except OSError as exc:
        log.warning("journal %s: not read back for its digest (%s); it gets none", path, exc)
        return None
    return content


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class PendingAppend:
    """The lines of an append read so far, checked but not yet counted.

    Shared by replay and ``conserje log verify`` so both apply the same order checks.
    """

    def __init__(self, seq: int, h: str) -> None:
        self.reset(seq, h)

    def reset(self, seq: int, h: str) -> None:
        """Start the next append after ``seq`` (reused: replay makes millions of these)."""
        self.seq = seq
        self.h = h
        self.versions: dict[str, int] = {}
        self.events: list[Event] = []

    def add(self, sealed: SealedLine, committed: dict[str, int]) -> None:
        """Check ``sealed`` follows the lines before it and count it tentatively.

        Raises:
            BadLine: its seq or its chat's version is out of order.
        """
        event = sealed.event
        if event.seq != self.seq + 1:
            raise BadLine(f"seq {event.seq} follows {self.seq}")
        expected = self.versions.get(event.chat, committed.get(event.chat, 0)) + 1
        if event.version != expected:
            raise BadLine(f"chat version {event.version} where {expected} was expected")
        self.seq, self.h = event.seq, sealed.h
        self.versions[event.chat] = event.version
        self.events.append(event)
