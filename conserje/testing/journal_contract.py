"""The journal's contract as tests, to run against every backend.

Subclass :class:`JournalContract` in a test module, name the subclass ``Test...`` so
pytest collects it, and implement :meth:`~JournalContract.open` and
:meth:`~JournalContract.stored`. Every backend Conserje ships runs this suite; a new one
(a database, say) is done when it passes too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from conserje.errors import JournalConflict, JournalUnavailable
from conserje.eventlog.events import Event, MessageReceived, TurnStarted

__all__ = ["JournalContract"]

CHAT = "34600000001@s.whatsapp.net"
OTHER = "34600000002@s.whatsapp.net"


def _message(n: int, chat: str = CHAT) -> MessageReceived:
    return MessageReceived(chat=chat, message_id=f"m{n}-{chat[:11]}", text=f"message {n}")


class JournalContract:
    """Invariants every journal backend keeps."""

    def open(self, place: Path) -> Any:
        """Return a journal stored at ``place``, replayed and started."""
        raise NotImplementedError

    def stored(self, journal: Any, place: Path) -> list[Event]:
        """Close ``journal`` and return what a fresh instance replays from ``place``."""
        raise NotImplementedError

    def test_replay_returns_exactly_what_was_appended(self, tmp_path: Path) -> None:
        """What an append returned is what a restart reads back, field for field."""
        journal = self.open(tmp_path)
        written = journal.append([_message(1), _message(2)])
        written += journal.append([_message(3, OTHER)])
        assert self.stored(journal, tmp_path) == written

    def test_seq_is_strictly_increasing_without_gaps(self, tmp_path: Path) -> None:
        """Global ``seq`` counts 1, 2, 3... across appends and chats."""
        journal = self.open(tmp_path)
        for n in range(5):
            journal.append([_message(n, CHAT if n % 2 else OTHER)])
        assert [e.seq for e in self.stored(journal, tmp_path)] == [1, 2, 3, 4, 5]

    def test_versions_are_contiguous_per_chat(self, tmp_path: Path) -> None:
        """Each chat's ``version`` counts 1, 2, 3... on its own."""
        journal = self.open(tmp_path)
        journal.append([_message(1), _message(2, OTHER), _message(3)])
        journal.append([_message(4, OTHER)])
        events = self.stored(journal, tmp_path)
        assert [e.version for e in events if e.chat == CHAT] == [1, 2]
        assert [e.version for e in events if e.chat == OTHER] == [1, 2]

    def test_an_append_gets_consecutive_seq(self, tmp_path: Path) -> None:
        """The events of one append are adjacent, in the order given."""
        journal = self.open(tmp_path)
        out = journal.append([_message(1), _message(2), _message(3)])
        assert [e.seq for e in out] == [1, 2, 3]
        assert [e.text for e in out] == ["message 1", "message 2", "message 3"]

    def test_expected_version_is_honoured(self, tmp_path: Path) -> None:
        """An append that expects the chat's current version succeeds."""
        journal = self.open(tmp_path)
        journal.append([_message(1)])
        (event,) = journal.append([_message(2)], expected_version=1)
        assert event.version == 2

    def test_a_stale_expected_version_conflicts_and_writes_nothing(self, tmp_path: Path) -> None:
        """If another write got there first, the whole append is refused."""
        journal = self.open(tmp_path)
        journal.append([_message(1)])
        journal.append([_message(2)])
        with pytest.raises(JournalConflict) as caught:
            journal.append([_message(3), _message(4)], expected_version=1)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert [e.version for e in self.stored(journal, tmp_path)] == [1, 2]

    def test_expected_version_needs_one_chat(self, tmp_path: Path) -> None:
        """Optimistic concurrency is per chat; a mixed append cannot use it."""
        journal = self.open(tmp_path)
        with pytest.raises(ValueError, match="one chat"):
            journal.append([_message(1), _message(2, OTHER)], expected_version=0)

    def test_racing_writers_with_expected_versions_never_both_win(self, tmp_path: Path) -> None:
        """Of writers that all expect the same version, exactly one succeeds."""
        journal = self.open(tmp_path)
        journal.append([_message(0)])
        wins: list[int] = []
        conflicts: list[int] = []
        barrier = threading.Barrier(6)

        def writer(n: int) -> None:
            barrier.wait()
            try:
                journal.append([_message(100 + n)], expected_version=1)
                wins.append(n)
            except JournalConflict:
                conflicts.append(n)

        self._run(writer, 6)
        assert len(wins) == 1
        assert len(conflicts) == 5
        assert [e.version for e in self.stored(journal, tmp_path)] == [1, 2]

    def test_concurrent_appends_interleave_whole(self, tmp_path: Path) -> None:
        """Appends from many threads never split and never lose an event."""
        journal = self.open(tmp_path)

        def writer(n: int) -> None:
            chat = f"3460000{n:04d}@s.whatsapp.net"
            for i in range(10):
                out = journal.append([_message(2 * i, chat), _message(2 * i + 1, chat)])
                assert out[1].seq == out[0].seq + 1

        self._run(writer, 8)
        events = self.stored(journal, tmp_path)
        assert [e.seq for e in events] == list(range(1, 161))
        for n in range(8):
            chat = f"3460000{n:04d}@s.whatsapp.net"
            assert [e.version for e in events if e.chat == chat] == list(range(1, 21))

    def test_appends_continue_after_a_restart(self, tmp_path: Path) -> None:
        """A reopened journal continues seq and versions where it stopped."""
        journal = self.open(tmp_path)
        journal.append([_message(1), TurnStarted(chat=CHAT, turn_id="t", message_ids=["m1"])])
        self.stored(journal, tmp_path)
        again = self.open(tmp_path)
        (event,) = again.append([_message(2)])
        assert (event.seq, event.version) == (3, 3)
        self.stored(again, tmp_path)

    def test_a_closed_journal_refuses_appends(self, tmp_path: Path) -> None:
        """After close nothing is acknowledged that would not be kept."""
        journal = self.open(tmp_path)
        self.stored(journal, tmp_path)
        with pytest.raises(JournalUnavailable):
            journal.append([_message(1)])

    @staticmethod
    def _run(target: Any, count: int) -> None:
        errors: list[BaseException] = []

        def guarded(n: int) -> None:
            try:
                target(n)
            except BaseException as exc:  # re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        if errors:
            raise errors[0]
