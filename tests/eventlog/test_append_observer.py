"""The journal's append observer: told of every durable batch, never able to stop the writer."""

from __future__ import annotations

import logging

from conserje.eventlog.events import MessageReceived
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.segments import list_segments

CHAT = "34600111222@s.whatsapp.net"


def message(text: str) -> MessageReceived:
    return MessageReceived(chat=CHAT, message_id=f"id-{text}", text=text)


def test_the_observer_gets_each_batch_as_written_once_it_is_on_disk(tmp_path):
    directory = tmp_path / "journal"
    seen = []

    def observe(batch):
        (segment,) = list_segments(directory)
        lines = segment.path.read_bytes().count(b"\n")
        seen.append(([(e.seq, e.text) for e in batch.events], lines, batch))

    journal = JsonlJournal(directory, clock=lambda: 5.0, on_append=[observe])
    journal.start()
    journal.append([message("a"), message("b")])
    journal.append([message("c")])
    journal.close()

    assert [(events, lines) for events, lines, _ in seen] == [
        ([(1, "a"), (2, "b")], 2),
        ([(3, "c")], 3),
    ]
    for _, _, batch in seen:
        assert batch.seconds >= batch.sync_seconds > 0


def test_without_fsync_there_is_no_sync_to_time(tmp_path):
    batches = []
    journal = JsonlJournal(
        tmp_path / "j", clock=lambda: 5.0, fsync=False, on_append=[batches.append]
    )
    journal.start()
    journal.append([message("a")])
    journal.close()

    (batch,) = batches
    assert batch.sync_seconds is None
    assert batch.seconds >= 0


def test_a_failing_observer_is_logged_and_the_journal_and_other_observers_go_on(tmp_path, caplog):
    def broken(batch):
        raise RuntimeError("observer bug")

    batches = []
    journal = JsonlJournal(tmp_path / "j", clock=lambda: 5.0, on_append=[broken, batches.append])
    journal.start()
    with caplog.at_level(logging.ERROR, logger="conserje.eventlog.jsonl"):
        first = journal.append([message("a")])
        second = journal.append([message("b")])
    journal.close()

    assert [e.seq for e in first + second] == [1, 2]
    assert [[e.text for e in batch.events] for batch in batches] == [["a"], ["b"]]
    assert journal.failure is None
    assert "append observer" in caplog.text
    assert "observer bug" in caplog.text
    assert [e.text for e in JsonlJournal(tmp_path / "j", clock=lambda: 0.0).replay()] == ["a", "b"]
