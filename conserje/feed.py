"""The journal's latest events, held for the dashboard's live stream.

The journal's writer thread hands every durable batch to :meth:`LiveFeed.observe`,
which only appends to a bounded ring and rings a bell, so it never holds the writer
up. Streams read from the ring after the last ``seq`` their client saw: a client
that reconnects gets what it missed, or is told of a gap when that fell out of the
ring (or happened before this process started).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import msgspec

from conserje.audit.record import story_record
from conserje.eventlog.events import Event
from conserje.eventlog.jsonl import AppendedBatch

__all__ = ["FEED_CAPACITY", "FeedEntry", "FeedRead", "LiveFeed"]

FEED_CAPACITY = 1000
"""Events the feed holds; the oldest is dropped first."""


class FeedEntry:
    """One journaled event in the feed; its JSON record is made once, when first read."""

    __slots__ = ("_json", "event")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._json: bytes | None = None

    @property
    def seq(self) -> int:
        """The event's journal ``seq``."""
        return self.event.seq

    def json(self) -> bytes:
        """Return the event's :func:`~conserje.audit.record.story_record` as JSON."""
        # Made by a reader, not by the writer thread; two readers at once make equal bytes.
        if self._json is None:
            self._json = msgspec.json.encode(story_record(self.event))
        return self._json


@dataclass(frozen=True)
class FeedRead:
    """What a reader gets: the entries after its ``seq``, and whether some were lost.

    Attributes:
        entries: the events after the reader's ``seq`` that the feed holds, in order.
        since: the ``seq`` the entries follow: where the reader is now, if they are none.
        gap: the reader missed events the feed no longer holds (or never held: they
            came before this process started, or its ``seq`` is from another journal).
    """

    entries: list[FeedEntry]
    since: int
    gap: bool = False


class LiveFeed:
    """A bounded ring of the journal's latest events, and a bell for those waiting on it.

    Args:
        capacity: events held at most.
    """

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        self._ring: deque[FeedEntry] = deque(maxlen=capacity)
        self._bell = threading.Condition()
        # Every event up to ``_floor`` is out of reach: before this process, or dropped.
        self._floor = 0
        self._last = 0
        self._closed = False

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event seen (or where the feed started)."""
        return self._last

    @property
    def closed(self) -> bool:
        """Whether the server is stopping: streams must end."""
        return self._closed

    def start_at(self, seq: int) -> None:
        """Say the journal ends at ``seq`` before the first append the feed will see."""
        with self._bell:
            if not self._ring:
                self._floor = self._last = seq

    def observe(self, batch: AppendedBatch) -> None:
        """Take a durable batch (the journal's ``on_append`` observer); never blocks long."""
        with self._bell:
            for event in batch.events:
                if len(self._ring) == self._ring.maxlen:
                    self._floor = self._ring[0].seq
                self._ring.append(FeedEntry(event))
                self._last = event.seq
            self._bell.notify_all()

    def read(self, after: int | None) -> FeedRead:
        """Return what the feed holds after ``after``; ``None`` means everything it holds."""
        with self._bell:
            if after is not None and self._floor <= after <= self._last:
                return FeedRead([e for e in self._ring if e.seq > after], after)
            entries = list(self._ring)
            since = entries[0].seq - 1 if entries else self._last
            return FeedRead(entries, since, gap=after is not None)

    def wait(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``; tell if one came."""
        with self._bell:
            self._bell.wait_for(lambda: self._closed or self._last > after, timeout)
            return self._last > after

    def close(self) -> None:
        """Wake every waiting stream and make it end: the server is stopping."""
        with self._bell:
            self._closed = True
            self._bell.notify_all()
