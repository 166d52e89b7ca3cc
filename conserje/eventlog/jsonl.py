"""The journal on disk: one JSON Lines file, one writer thread, group commit.

Invariants (tested in ``tests/eventlog``):

* ``seq`` is strictly increasing, with no gaps, across the whole file.
* Each chat's ``version`` is contiguous from 1.
* :meth:`JsonlJournal.append` returns only after an ``fdatasync`` of a batch that
  contains its events; many appends waiting at once share one ``fdatasync``.
* A failed write or sync is fatal: the journal refuses every later append and never
  retries the sync (after a failed ``fsync`` the kernel may have dropped the dirty
  pages, so a retry that succeeds proves nothing).
* At open, a last line cut short by a crash is removed and reported; an unreadable
  line anywhere else stops the open with the file and line number.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import msgspec

from conserje.errors import JournalCorrupt, JournalUnavailable
from conserje.eventlog.codec import decode_line, encode_line
from conserje.eventlog.events import Event

__all__ = ["JsonlJournal"]

log = logging.getLogger(__name__)

_MAX_BATCH = 1024


class _Append:
    __slots__ = ("events", "future")

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        self.future: Future[list[Event]] = Future()


class JsonlJournal:
    """An append-only journal in one JSONL file.

    Use it in two phases: :meth:`replay` reads what is on disk (once), then
    :meth:`start` opens it for appends.

    Args:
        path: the journal file; created if missing.
        fsync: make each batch durable with ``fdatasync`` before acknowledging it.
            Turning it off is for development only.
        clock: wall-clock time in Unix seconds, stamped on each event.
        on_fatal: called once, from the writer thread, when a write or sync fails.
    """

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool = True,
        clock: Callable[[], float],
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.path = path
        self._fsync = fsync
        self._clock = clock
        self._on_fatal = on_fatal
        self._seq = 0
        self._versions: dict[str, int] = {}
        self._queue: queue.SimpleQueue[_Append | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._replayed = False
        self._closed = False

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event written (0 for an empty journal)."""
        return self._seq

    @property
    def failure(self) -> BaseException | None:
        """The write or sync error that stopped the journal, if any."""
        return self._failure

    def replay(self) -> Iterator[Event]:
        """Yield every event on disk, in order, cutting off a torn last line.

        Raises:
            JournalCorrupt: a line other than the last cannot be decoded, or the
                sequence numbers are out of order.
        """
        if self._replayed:
            raise RuntimeError("the journal was already replayed")
        self._replayed = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        with self.path.open("rb") as f:
            offset = 0
            pending: tuple[int, int, bytes] | None = None
            for lineno, raw in enumerate(f, start=1):
                if pending is not None:
                    yield self._accept(pending[0], pending[2])
                pending = (lineno, offset, raw)
                offset += len(raw)
            if pending is not None:
                last = self._decode_last(*pending)
                if last is not None:
                    yield last

    def _accept(self, lineno: int, raw: bytes) -> Event:
        try:
            event = decode_line(raw)
        except msgspec.DecodeError as exc:
            raise JournalCorrupt(self.path, lineno, str(exc)) from exc
        return self._advance(event, lineno)

    def _decode_last(self, lineno: int, offset: int, raw: bytes) -> Event | None:
        try:
            if not raw.endswith(b"\n"):
                raise msgspec.DecodeError("no newline at end of line")
            event = decode_line(raw)
        except msgspec.DecodeError as exc:
            log.warning(
                "journal %s: line %d was cut short by a crash (%s); removing %d bytes",
                self.path,
                lineno,
                exc,
                len(raw),
            )
            with self.path.open("r+b") as f:
                f.truncate(offset)
                os.fsync(f.fileno())
            return None
        return self._advance(event, lineno)

    def _advance(self, event: Event, lineno: int) -> Event:
        if event.seq != self._seq + 1:
            raise JournalCorrupt(self.path, lineno, f"seq {event.seq} follows {self._seq}")
        expected = self._versions.get(event.chat, 0) + 1
        if event.version != expected:
            raise JournalCorrupt(
                self.path,
                lineno,
                f"chat version {event.version} where {expected} was expected",
            )
        self._seq = event.seq
        self._versions[event.chat] = event.version
        return event

    def start(self) -> None:
        """Open the journal for appends (replaying it first if that was not done)."""
        if not self._replayed:
            for _ in self.replay():
                pass
        self._thread = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
        self._thread.start()

    def append(self, events: Sequence[Event], *, timeout: float = 10.0) -> list[Event]:
        """Append ``events`` and return them as written, once they are durable.

        The events of one call are written together and get consecutive ``seq``.

        Raises:
            JournalUnavailable: the journal is not open, has failed, or did not make
                the events durable within ``timeout`` seconds.
        """
        if self._failure is not None:
            raise JournalUnavailable(f"journal failed: {self._failure}")
        if self._thread is None or self._closed:
            raise JournalUnavailable("journal is not open for appends")
        request = _Append(events)
        self._queue.put(request)
        try:
            return request.future.result(timeout=timeout)
        except FutureTimeout as exc:
            raise JournalUnavailable(f"append not durable within {timeout} s") from exc

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _write_loop(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = self._drain_into(batch)
                self._commit(fd, batch)
                if stop:
                    return
        finally:
            os.close(fd)

    def _drain_into(self, batch: list[_Append]) -> bool:
        while len(batch) < _MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, fd: int, batch: list[_Append]) -> None:
        if self._failure is not None:
            for request in batch:
                request.future.set_exception(JournalUnavailable(str(self._failure)))
            return
        seq = self._seq
        versions: dict[str, int] = {}
        written: list[list[Event]] = []
        chunks: list[bytes] = []
        now = self._clock()
        for request in batch:
            out = []
            for event in request.events:
                seq += 1
                version = versions.get(event.chat, self._versions.get(event.chat, 0)) + 1
                versions[event.chat] = version
                stamped = msgspec.structs.replace(event, seq=seq, version=version, ts=now)
                out.append(stamped)
                chunks.append(encode_line(stamped))
            written.append(out)
        try:
            _write_all(fd, b"".join(chunks))
            if self._fsync:
                os.fdatasync(fd)
        except OSError as exc:
            self._fail(exc, batch)
            return
        self._seq = seq
        self._versions.update(versions)
        for request, out in zip(batch, written, strict=True):
            request.future.set_result(out)

    def _fail(self, exc: OSError, batch: list[_Append]) -> None:
        self._failure = exc
        log.critical("journal %s: write failed, no further appends: %s", self.path, exc)
        for request in batch:
            request.future.set_exception(JournalUnavailable(f"journal write failed: {exc}"))
        if self._on_fatal is not None:
            self._on_fatal(exc)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
