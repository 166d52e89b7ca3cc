"""A journal kept in memory, with the same contract as the JSONL one.

For tests of code that needs a journal but not a disk, and as the second backend the
conformance suite runs against, so the contract is not shaped by one implementation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import msgspec

from conserje.errors import JournalConflict, JournalUnavailable
from conserje.eventlog.events import Event
from conserje.eventlog.protocol import check_expected_version

__all__ = ["InMemoryJournal"]


class InMemoryJournal:
    """An append-only journal in a list; appends are serialized by a lock.

    Args:
        clock: wall-clock time in Unix seconds, stamped on each event.
        events: events already "on disk", as a previous instance left them.
    """

    def __init__(self, *, clock: Callable[[], float], events: Sequence[Event] = ()) -> None:
        self._clock = clock
        self.events: list[Event] = list(events)
        self._lock = threading.Lock()
        self._open = False
        self._replayed = False

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event (0 when empty)."""
        return self.events[-1].seq if self.events else 0

    @property
    def failure(self) -> BaseException | None:
        """Always ``None``: memory does not fail to write."""
        return None

    def replay(self) -> Iterator[Event]:
        """Yield every event, in order."""
        if self._replayed:
            raise RuntimeError("the journal was already replayed")
        self._replayed = True
        yield from list(self.events)

    def start(self) -> None:
        """Accept appends."""
        self._replayed = True
        self._open = True

    def close(self) -> None:
        """Refuse further appends."""
        self._open = False

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        timeout: float = 10.0,
    ) -> list[Event]:
        """Append ``events`` together and return them as stored.

        Raises:
            JournalConflict: the chat is not at ``expected_version``.
            JournalUnavailable: the journal is not open.
        """
        check_expected_version(events, expected_version)
        if not self._open:
            raise JournalUnavailable("journal is not open for appends")
        with self._lock:
            if expected_version is not None:
                chat = events[0].chat
                actual = self._version(chat)
                if actual != expected_version:
                    raise JournalConflict(chat, expected_version, actual)
            now = self._clock()
            out = []
            versions: dict[str, int] = {}
            for event in events:
                version = versions.get(event.chat, self._version(event.chat)) + 1
                versions[event.chat] = version
                stamped = msgspec.structs.replace(
                    event, seq=self.last_seq + len(out) + 1, version=version, ts=now
                )
                out.append(stamped)
            self.events.extend(out)
            return out

    def _version(self, chat: str) -> int:
        return next((e.version for e in reversed(self.events) if e.chat == chat), 0)
