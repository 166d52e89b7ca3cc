"""The JSONL journal on disk: sealed lines, torn tails, damage, segments, failures."""

from __future__ import annotations

import json
import logging
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conserje.errors import JournalCorrupt, JournalUnavailable
from conserje.eventlog.events import MessageReceived, TurnFinished
from conserje.eventlog.jsonl import JsonlJournal, Position
from conserje.eventlog.segments import list_segments, segment_path
from conserje.testing.wait import wait_for

CHAT = "34600111222@s.whatsapp.net"


def message(text: str, chat: str = CHAT, message_id: str | None = None) -> MessageReceived:
    return MessageReceived(chat=chat, message_id=message_id or f"id-{text}", text=text)


def started(directory, **kwargs) -> JsonlJournal:
    journal = JsonlJournal(directory, clock=lambda: 1_800_000_000.0, **kwargs)
    journal.start()
    return journal


def replayed(directory, start=None) -> list:
    return list(JsonlJournal(directory, clock=lambda: 0.0).replay(start))


def only_segment(directory):
    (segment,) = list_segments(directory)
    return segment.path


@pytest.fixture
def three(tmp_path):
    """A journal directory holding three single-event appends."""
    directory = tmp_path / "journal"
    journal = started(directory)
    for text in ("a", "b", "c"):
        journal.append([message(text)])
    journal.close()
    return directory


def test_each_line_is_a_json_object_naming_its_type_and_sealed(three):
    record = json.loads(only_segment(three).read_text(encoding="utf-8").splitlines()[0])
    assert record["type"] == "message_received"
    assert (record["seq"], record["chat"], record["version"], record["v"]) == (1, CHAT, 1, 1)
    assert len(record["h"]) == 32


def test_torn_last_line_is_cut_off_and_reported(three, caplog):
    path = only_segment(three)
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"type":"message_received","seq":4,"chat":"34')

    with caplog.at_level(logging.WARNING):
        events = replayed(three)

    assert [e.text for e in events] == ["a", "b", "c"]
    assert path.read_bytes() == intact
    assert "line 4" in caplog.text
    assert "crash" in caplog.text


def test_an_append_cut_short_is_removed_whole(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory)
    journal.append([message("a")])
    journal.append([message("b"), message("c"), message("d")])
    journal.close()
    path = only_segment(directory)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))

    assert [e.text for e in replayed(directory)] == ["a"]
    assert path.read_bytes() == lines[0]

    again = started(directory)
    (event,) = again.append([message("e")])
    again.close()
    assert event.seq == 2
    assert [e.text for e in replayed(directory)] == ["a", "e"]


def test_damage_in_the_middle_refuses_to_open_naming_file_and_line(three):
    path = only_segment(three)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"type":"message_received","seq":2,"chat":\x00garbage}\n'
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()

    with pytest.raises(JournalCorrupt) as caught:
        replayed(three)

    assert caught.value.line == 2
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_a_flipped_byte_that_still_parses_is_caught_by_the_seal(three):
    path = only_segment(three)
    path.write_bytes(path.read_bytes().replace(b'"text":"b"', b'"text":"B"'))
    with pytest.raises(JournalCorrupt, match="hash does not match") as caught:
        replayed(three)
    assert caught.value.line == 2


def test_a_deleted_line_is_caught(three):
    path = only_segment(three)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(JournalCorrupt) as caught:
        replayed(three)
    assert caught.value.line == 2


def test_windows_line_endings_are_named_as_such(three):
    path = only_segment(three)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(JournalCorrupt, match="CRLF"):
        replayed(three)


def test_a_file_that_is_not_a_conserje_journal_is_refused(tmp_path):
    directory = tmp_path / "journal"
    directory.mkdir()
    path = directory / f"{1:020d}.jsonl"
    path.write_text('{"hello": "world"}\n{"another": "line"}\n', encoding="utf-8")
    with pytest.raises(JournalCorrupt, match="not a Conserje journal"):
        replayed(directory)


def test_a_misnamed_file_in_the_journal_directory_is_refused(tmp_path):
    directory = tmp_path / "journal"
    directory.mkdir()
    (directory / "old.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(JournalCorrupt, match="not a segment name"):
        replayed(directory)


def test_segments_rotate_by_size_and_replay_across_them(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=1024)
    written = []
    for n in range(40):
        written += journal.append([message(f"mensaje número {n}")])
    journal.close()

    segments = list_segments(directory)
    assert len(segments) > 3
    assert all(s.path.stat().st_size < 1024 + 400 for s in segments)
    assert replayed(directory) == written


def test_a_missing_segment_is_named(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=1024)
    for n in range(40):
        journal.append([message(f"mensaje número {n}")])
    journal.close()
    missing = list_segments(directory)[1]
    missing.path.unlink()

    with pytest.raises(JournalCorrupt, match="segment missing") as caught:
        replayed(directory)
    assert caught.value.path == list_segments(directory)[1].path


def test_replay_can_start_after_a_known_position(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=1024)
    for n in range(30):
        journal.append([message(f"m{n}")])
    position = journal.position()
    later = journal.append([message("after")])
    journal.close()

    assert replayed(directory, Position(position.seq, position.h, position.versions)) == later


def test_a_wrong_start_position_is_detected(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory)
    journal.append([message("a")])
    journal.append([message("b")])
    journal.close()
    with pytest.raises(JournalCorrupt, match="hash"):
        replayed(directory, Position(1, "f" * 32, {CHAT: 1}))


def test_append_before_start_is_refused(tmp_path):
    journal = JsonlJournal(tmp_path / "journal", clock=lambda: 0.0)
    with pytest.raises(JournalUnavailable):
        journal.append([message("a")])


def test_a_failed_write_is_fatal_and_refuses_later_appends(tmp_path):
    failures: list[BaseException] = []
    directory = tmp_path / "journal"
    journal = JsonlJournal(directory, clock=lambda: 0.0, on_fatal=failures.append)
    journal.start()
    journal.append([message("a")])
    path = only_segment(directory)
    # The writer's descriptor is swapped for a read-only one on the same file: the next
    # write fails for real, as if the disk had gone away underneath it.
    fd = os.open(path, os.O_RDONLY)
    os.dup2(fd, _writer_fd(path))
    os.close(fd)

    with pytest.raises(JournalUnavailable):
        journal.append([message("b")])
    with pytest.raises(JournalUnavailable):
        journal.append([message("c")])
    # The failed batch is answered first (its webhooks answer 503 at once), on_fatal after.
    wait_for(lambda: failures, timeout=5, what="on_fatal called")
    assert len(failures) == 1
    assert journal.failure is not None
    assert [e.text for e in replayed(directory)] == ["a"]


def test_a_segment_that_cannot_be_created_is_fatal_and_refuses_later_appends(tmp_path):
    # Found by the disk-fault tests: the writer thread died on the failed rotation and
    # every later append waited for it until its timeout.
    failures: list[BaseException] = []
    directory = tmp_path / "journal"
    journal = JsonlJournal(
        directory, clock=lambda: 0.0, segment_bytes=4096, on_fatal=failures.append
    )
    journal.start()
    journal.append([message("a")])
    # The next segment's name is taken by a directory, so creating it fails for real,
    # as it does in a directory that turned read-only.
    segment_path(directory, 3).mkdir()

    journal.append([message("b" * 5000)])
    with pytest.raises(JournalUnavailable):
        journal.append([message("c")])
    # The journal refuses appends as soon as it has failed; on_fatal runs just after.
    wait_for(lambda: failures, timeout=5, what="on_fatal called")
    assert len(failures) == 1
    assert journal.failure is not None
    journal.close()
    segment_path(directory, 3).rmdir()
    assert [e.text for e in replayed(directory)] == ["a", "b" * 5000]


def _writer_fd(path) -> int:
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                return int(name)
        except OSError:
            continue
    raise AssertionError("the writer has no descriptor open on the journal")


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
chat_ids = st.sampled_from(["1", "2", "3", "ñandú@lid", 'odd"chat\\id'])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(chat_ids, texts), min_size=1, max_size=4), max_size=12))
def test_any_appends_round_trip_across_segments(tmp_path_factory, appends):
    directory = tmp_path_factory.mktemp("j") / "journal"
    journal = started(directory, segment_bytes=4096)
    written = []
    for n, items in enumerate(appends):
        batch = [message(text, chat, f"m{n}-{i}") for i, (chat, text) in enumerate(items)]
        written += journal.append(batch)
    written += journal.append([TurnFinished(chat="1", turn_id="t", outcome="x")])
    journal.close()
    assert replayed(directory) == written
