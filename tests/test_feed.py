"""The dashboard's live feed: the journal's latest events, from any seq a client saw."""

from __future__ import annotations

import json
import threading

import pytest

from conserje.audit.narrate import narrate
from conserje.eventlog.events import MessageReceived, TurnFinished
from conserje.eventlog.jsonl import JsonlJournal
from conserje.feed import FeedRead, LiveFeed

CHAT = "34600111222@s.whatsapp.net"


def message(text: str) -> MessageReceived:
    return MessageReceived(chat=CHAT, message_id=f"id-{text}", text=text)


@pytest.fixture
def journal(tmp_path):
    """A real journal, not yet open: tests give it a feed as its observer."""
    journals = []

    def make(feed: LiveFeed, *, before: int = 0) -> JsonlJournal:
        journal = JsonlJournal(
            tmp_path / "journal", clock=lambda: 5.0, fsync=False, on_append=[feed.observe]
        )
        for _ in journal.replay():
            pass
        feed.start_at(journal.last_seq)
        journal.start()
        journals.append(journal)
        for n in range(before):
            journal.append([message(f"old {n}")])
        return journal

    yield make
    for journal in journals:
        journal.close()


def texts(read) -> list[str]:
    return [e.event.text for e in read.entries]


def test_a_new_reader_gets_what_the_feed_holds_as_story_records(journal):
    feed = LiveFeed()
    j = journal(feed)
    j.append([message("hola"), message("¿hay sitio?")])
    j.append([TurnFinished(chat=CHAT, turn_id="t1", outcome="fallback")])

    read = feed.read(None)

    assert [e.seq for e in read.entries] == [1, 2, 3]
    assert not read.gap
    record = json.loads(read.entries[1].json())
    assert record == {
        "seq": 2,
        "ts": 5.0,
        "chat": CHAT,
        "type": "message_received",
        "who": "guest",
        "story": narrate(read.entries[1].event)[1],
        "fields": {
            "message_id": "id-¿hay sitio?",
            "sender": "",
            "text": "¿hay sitio?",
            "sent_at": 0,
            "quoted": "",
            "media": None,
        },
    }
    assert json.loads(read.entries[2].json())["story"] == "turn t1 finished: fallback"


def test_a_reader_that_comes_back_gets_only_what_it_missed(journal):
    feed = LiveFeed()
    j = journal(feed)
    for text in "abcd":
        j.append([message(text)])

    read = feed.read(2)

    assert texts(read) == ["c", "d"]
    assert read.since == 2
    assert not read.gap
    assert feed.read(4).entries == []


def test_events_that_fell_out_of_the_ring_are_a_gap(journal):
    feed = LiveFeed(capacity=3)
    j = journal(feed)
    for text in "abcde":
        j.append([message(text)])

    assert texts(feed.read(None)) == ["c", "d", "e"]
    missed = feed.read(1)
    assert missed.gap
    assert texts(missed) == ["c", "d", "e"]
    assert missed.since == 2
    # Seq 2 fell out, but a reader that saw it missed nothing.
    assert not feed.read(2).gap
    assert texts(feed.read(2)) == ["c", "d", "e"]


def test_events_from_before_the_process_started_are_a_gap(journal, tmp_path):
    journal(LiveFeed(), before=3)  # an earlier run of the server wrote seq 1 to 3
    feed = LiveFeed()
    j = journal(feed)

    assert feed.read(3) == FeedRead([], since=3, gap=False)
    gap = feed.read(1)
    assert gap.gap
    assert gap.entries == []
    assert gap.since == 3  # the reader resumes after the events it can never get here

    j.append([message("new")])
    assert texts(feed.read(3)) == ["new"]
    assert feed.read(1).gap


def test_a_seq_from_another_journal_is_a_gap(journal):
    feed = LiveFeed()
    journal(feed).append([message("a")])

    read = feed.read(500)

    assert read.gap
    assert texts(read) == ["a"]


def test_wait_tells_whether_something_came_and_close_wakes_every_waiter(journal):
    feed = LiveFeed()
    j = journal(feed)
    j.append([message("a")])
    assert feed.wait(0, timeout=5)
    assert not feed.wait(1, timeout=0.01)

    woke = []
    waiters = [
        threading.Thread(target=lambda: woke.append(feed.wait(1, timeout=60))) for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    feed.close()
    for waiter in waiters:
        waiter.join(timeout=10)

    assert woke == [False, False, False]
    assert feed.closed
