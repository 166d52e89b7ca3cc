"""The JSONL journal's invariants: durability, order, torn tails and damage."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conserje.errors import JournalCorrupt, JournalUnavailable
from conserje.eventlog.events import MessageReceived, TurnFinished, TurnStarted
from conserje.eventlog.jsonl import JsonlJournal

CHAT = "34600111222@s.whatsapp.net"


def message(text: str, chat: str = CHAT, message_id: str | None = None) -> MessageReceived:
    return MessageReceived(chat=chat, message_id=message_id or f"id-{text}", text=text)


def open_journal(path, **kwargs) -> JsonlJournal:
    journal = JsonlJournal(path, clock=lambda: 1_800_000_000.0, **kwargs)
    journal.start()
    return journal


def reopen(path) -> list:
    return list(JsonlJournal(path, clock=lambda: 0.0).replay())


def test_append_returns_stamped_events_that_replay_identically(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    first = journal.append([message("hola"), message("¿hay sitio?")])
    second = journal.append([TurnStarted(chat=CHAT, turn_id="t1", message_ids=["id-hola"])])
    journal.close()

    assert [e.seq for e in first + second] == [1, 2, 3]
    assert [e.version for e in first + second] == [1, 2, 3]
    assert all(e.ts == 1_800_000_000.0 for e in first + second)
    assert reopen(path) == first + second


def test_each_line_is_one_json_object_naming_its_type(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("hola")])
    journal.close()

    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["type"] == "message_received"
    assert record["seq"] == 1
    assert record["chat"] == CHAT
    assert record["v"] == 1


def test_versions_are_per_chat_and_seq_is_global(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a"), message("b", chat="1@s.whatsapp.net"), message("c")])
    journal.close()

    events = reopen(path)
    assert [(e.seq, e.chat, e.version) for e in events] == [
        (1, CHAT, 1),
        (2, "1@s.whatsapp.net", 1),
        (3, CHAT, 2),
    ]


def test_appends_continue_after_reopening(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a")])
    journal.close()

    again = open_journal(path)
    (event,) = again.append([message("b")])
    again.close()
    assert (event.seq, event.version) == (2, 2)


def test_concurrent_appends_keep_seq_contiguous_and_batches_together(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    results: list[list] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            chat = f"{n}@s.whatsapp.net"
            out = journal.append([message(f"{n}-{i}-a", chat), message(f"{n}-{i}-b", chat)])
            with lock:
                results.append(out)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()

    events = reopen(path)
    assert [e.seq for e in events] == list(range(1, 401))
    for batch in results:
        assert batch[1].seq == batch[0].seq + 1
    for n in range(8):
        chat = f"{n}@s.whatsapp.net"
        assert [e.version for e in events if e.chat == chat] == list(range(1, 51))


def test_torn_last_line_is_cut_off_and_reported(tmp_path, caplog):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a"), message("b")])
    journal.close()
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"type":"message_received","seq":3,"chat":"34')

    with caplog.at_level(logging.WARNING):
        events = reopen(path)

    assert [e.seq for e in events] == [1, 2]
    assert path.read_bytes() == intact
    assert "line 3 was cut short" in caplog.text


def test_a_journal_with_its_torn_tail_cut_accepts_appends(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a")])
    journal.close()
    with path.open("ab") as f:
        f.write(b'{"type":"turn_')

    again = open_journal(path)
    (event,) = again.append([message("b")])
    again.close()
    assert event.seq == 2
    assert [e.text for e in reopen(path)] == ["a", "b"]


def test_damage_in_the_middle_refuses_to_open_naming_file_and_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a"), message("b"), message("c")])
    journal.close()
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"type":"message_received","seq":2,"chat":\x00garbage}\n'
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()

    with pytest.raises(JournalCorrupt) as caught:
        reopen(path)

    assert caught.value.line == 2
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_a_gap_in_seq_is_damage(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = open_journal(path)
    journal.append([message("a"), message("b"), message("c")])
    journal.close()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])

    with pytest.raises(JournalCorrupt, match="line 2"):
        reopen(path)


def test_append_before_start_is_refused(tmp_path):
    journal = JsonlJournal(tmp_path / "journal.jsonl", clock=lambda: 0.0)
    with pytest.raises(JournalUnavailable):
        journal.append([message("a")])


def test_a_failed_write_is_fatal_and_refuses_later_appends(tmp_path):
    failures: list[BaseException] = []
    path = tmp_path / "journal.jsonl"
    journal = JsonlJournal(path, clock=lambda: 0.0, on_fatal=failures.append)
    journal.start()
    journal.append([message("a")])
    # Make the next write fail for real: the writer's descriptor now points at a
    # read-only file, as if the disk had gone away underneath it.
    fd = os.open(path, os.O_RDONLY)
    os.dup2(fd, _writer_fd(path))
    os.close(fd)

    with pytest.raises(JournalUnavailable):
        journal.append([message("b")])
    with pytest.raises(JournalUnavailable):
        journal.append([message("c")])
    assert len(failures) == 1
    assert journal.failure is not None
    assert [e.text for e in reopen(path)] == ["a"]


def _writer_fd(path) -> int:
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                return int(name)
        except OSError:
            continue
    raise AssertionError("the writer has no descriptor open on the journal")


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1", "2", "3"]), texts), min_size=1, max_size=30))
def test_any_sequence_of_messages_round_trips(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    journal = open_journal(path)
    written = []
    for n, (chat, text) in enumerate(items):
        written += journal.append([message(text, f"{chat}@s.whatsapp.net", f"m{n}")])
    written += journal.append([TurnFinished(chat="1@s.whatsapp.net", turn_id="t", outcome="x")])
    journal.close()
    assert reopen(path) == written
