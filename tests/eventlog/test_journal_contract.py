"""The journal contract, run against every backend Conserje ships."""

from __future__ import annotations

from typing import ClassVar

from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.memory import InMemoryJournal
from conserje.testing.journal_contract import JournalContract


def clock() -> float:
    return 1_800_000_000.0


class TestJsonlJournal(JournalContract):
    def open(self, place):
        journal = JsonlJournal(place / "journal", clock=clock)
        journal.start()
        return journal

    def stored(self, journal, place):
        journal.close()
        return list(JsonlJournal(place / "journal", clock=clock).replay())


class TestJsonlJournalInSmallSegments(TestJsonlJournal):
    """The same contract holds when appends rotate through many segments."""

    def open(self, place):
        journal = JsonlJournal(place / "journal", clock=clock, segment_bytes=4096)
        journal.start()
        return journal


class TestInMemoryJournal(JournalContract):
    # What "survives a restart" of a memory journal: its events, kept per test place.
    _stores: ClassVar[dict] = {}

    def open(self, place):
        journal = InMemoryJournal(clock=clock, events=self._stores.get(place, []))
        journal.start()
        return journal

    def stored(self, journal, place):
        journal.close()
        self._stores[place] = list(journal.events)
        return list(InMemoryJournal(clock=clock, events=journal.events).replay())
