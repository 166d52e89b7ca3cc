"""Closed segments carry a digest; replay reads a matching one in bulk, others line by line."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from conserje.errors import JournalCorrupt
from conserje.eventlog.events import MessageReceived, RunFinished, TurnStarted, Usage
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.reader import verify_journal
from conserje.eventlog.segments import digest_path, list_segments, read_digest, write_digest
from tests.eventlog.test_upcast import STARTED, sealed_lines

CHATS = [f"3460011{n:04d}@s.whatsapp.net" for n in range(3)]
TEXT = "¿Tenéis habitación doble libre para el puente de diciembre? Somos dos adultos y un bebé."


def started(directory: Path, **kwargs) -> JsonlJournal:
    journal = JsonlJournal(directory, clock=lambda: 1_800_000_000.0, **kwargs)
    journal.start()
    return journal


def opened(directory: Path, **kwargs) -> JsonlJournal:
    return JsonlJournal(directory, clock=lambda: 0.0, **kwargs)


def append_turns(journal: JsonlJournal, appends: int, size: int, tag: str = "") -> list:
    """Append ``appends`` multi-event appends of ``size`` guest messages, chats in turn."""
    written = []
    for n in range(appends):
        chat = CHATS[n % len(CHATS)]
        batch = [
            MessageReceived(chat=chat, message_id=f"wamid.{tag}{n}.{i}", text=f"{TEXT} {n}.{i}")
            for i in range(size)
        ]
        written += journal.append(batch)
    return written


@pytest.fixture
def rotated(tmp_path):
    """A journal of small segments (digests on the closed ones) and what was written."""
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=4096)
    written = append_turns(journal, 40, 3)
    journal.close()
    return directory, written


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_every_closed_segment_gets_a_digest_of_its_whole_content(rotated):
    directory, _ = rotated
    *closed, last = list_segments(directory)

    assert len(closed) >= 3
    for segment in closed:
        digest, _ = read_digest(segment.path)
        data = segment.path.read_bytes()
        assert digest is not None
        assert (digest.segment, digest.bytes) == (segment.path.name, len(data))
        assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert not digest_path(last.path).exists()


def test_a_segment_continued_after_a_restart_gets_a_digest_of_all_of_it(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=8192)
    written = append_turns(journal, 2, 2)
    journal.close()
    journal = opened(directory, segment_bytes=8192)
    assert list(journal.replay()) == written
    journal.start()
    written += append_turns(journal, 20, 2, tag="after-restart-")
    journal.close()

    first = list_segments(directory)[0].path
    digest, _ = read_digest(first)
    assert digest is not None
    assert digest.matches(first.name, first.read_bytes())
    assert list(opened(directory).replay()) == written


def test_replay_reads_the_same_with_digests_as_line_by_line(rotated):
    directory, written = rotated
    fast = opened(directory)
    events = list(fast.replay())
    for segment in list_segments(directory):
        digest_path(segment.path).unlink(missing_ok=True)
    slow = opened(directory)

    assert events == written
    assert list(slow.replay()) == written
    assert fast.position() == slow.position()


def test_a_closed_segment_larger_than_a_decoding_block_reads_whole(tmp_path):
    directory = tmp_path / "journal"
    journal = started(directory, segment_bytes=3 * 1024 * 1024)
    written = append_turns(journal, 300, 40)
    journal.close()
    segments = list_segments(directory)
    assert len(segments) >= 2
    assert read_digest(segments[0].path)[0] is not None

    journal = opened(directory)
    assert list(journal.replay()) == written
    journal.start()
    more = journal.append([MessageReceived(chat=CHATS[1], message_id="next", text="hola")])
    journal.close()
    assert more[0].seq == written[-1].seq + 1
    assert more[0].version == max(e.version for e in written if e.chat == CHATS[1]) + 1


def flip_a_byte(lines: list[bytes]) -> list[bytes]:
    lines[2] = lines[2].replace(b"diciembre", b"diciembrE", 1)
    return lines


def delete_a_line(lines: list[bytes]) -> list[bytes]:
    del lines[2]
    return lines


def swap_two_lines(lines: list[bytes]) -> list[bytes]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


def edit_a_text(lines: list[bytes]) -> list[bytes]:
    lines[2] = lines[2].replace(b"dos adultos", b"tres adultos", 1)
    return lines


@pytest.mark.parametrize("tamper", [flip_a_byte, delete_a_line, swap_two_lines, edit_a_text])
def test_tampering_with_a_closed_segment_refuses_to_open_naming_the_line(rotated, tamper, caplog):
    directory, _ = rotated
    closed = list_segments(directory)[1].path
    closed.write_bytes(b"".join(tamper(lines_of(closed))))

    with caplog.at_level(logging.WARNING), pytest.raises(JournalCorrupt) as caught:
        list(opened(directory).replay())

    assert (caught.value.path, caught.value.line) == (closed, 3)
    assert "does not match its digest" in caplog.text


def test_a_closed_segment_from_another_journal_is_refused_with_its_digest(rotated, tmp_path):
    directory, _ = rotated
    other = tmp_path / "other"
    journal = started(other, segment_bytes=4096)
    append_turns(journal, 40, 3, tag="x")
    journal.close()
    ours, theirs = list_segments(directory)[1], list_segments(other)[1]
    assert ours.path.name == theirs.path.name
    for path in (theirs.path, digest_path(theirs.path)):
        (directory / path.name).write_bytes(path.read_bytes())

    with pytest.raises(JournalCorrupt, match="hash does not match") as caught:
        list(opened(directory).replay())

    assert (caught.value.path, caught.value.line) == (ours.path, 1)


def test_verify_checks_every_line_whatever_the_digest_says(rotated):
    directory, _ = rotated
    closed = list_segments(directory)[1].path
    closed.write_bytes(b"".join(edit_a_text(lines_of(closed))))
    data = closed.read_bytes()
    write_digest(closed, len(data), hashlib.sha256(data).hexdigest())

    report = verify_journal(directory)

    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.segment, report.first_problem.line) == (closed, 3)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.unlink(), id="missing"),
        pytest.param(lambda path: path.write_bytes(b'{"segment":"000'), id="cut-short"),
        pytest.param(lambda path: path.write_bytes(b"\x00" * 40), id="garbage"),
        pytest.param(
            lambda path: path.write_bytes(path.read_bytes().replace(b'"sha256":"', b'"sha256":"0')),
            id="wrong-sum",
        ),
    ],
)
def test_a_missing_or_damaged_digest_only_means_checking_every_line(rotated, damage, caplog):
    directory, written = rotated
    segments = list_segments(directory)
    damage(digest_path(segments[1].path))

    with caplog.at_level(logging.WARNING):
        assert list(opened(directory).replay()) == written
    closed = segments[1].path
    closed.write_bytes(b"".join(flip_a_byte(lines_of(closed))))
    with pytest.raises(JournalCorrupt) as caught:
        list(opened(directory).replay())
    assert (caught.value.path, caught.value.line) == (closed, 3)


def test_a_digest_of_another_segment_is_not_used(rotated, caplog):
    directory, _ = rotated
    first, second = (s.path for s in list_segments(directory)[:2])
    digest_path(second).write_bytes(digest_path(first).read_bytes())
    second.write_bytes(b"".join(flip_a_byte(lines_of(second))))

    with caplog.at_level(logging.WARNING), pytest.raises(JournalCorrupt) as caught:
        list(opened(directory).replay())

    assert (caught.value.path, caught.value.line) == (second, 3)


def test_a_journal_from_before_digests_still_opens_and_verifies(rotated):
    directory, written = rotated
    for segment in list_segments(directory):
        digest_path(segment.path).unlink(missing_ok=True)

    assert list(opened(directory).replay()) == written
    report = verify_journal(directory)
    assert (report.ok, report.events) == (True, len(written))


def test_old_schema_lines_in_a_closed_segment_are_upcast(tmp_path):
    chat = STARTED["chat"]
    v1 = {
        "type": "run_finished",
        "seq": 2,
        "chat": chat,
        "version": 2,
        "ts": 2.0,
        "v": 1,
        "turn_id": "t1",
        "response_id": "resp_1",
        "status": "completed",
        "text": "hola",
        "input_tokens": 120,
        "output_tokens": 30,
    }
    later = {**STARTED, "seq": 3, "version": 3, "turn_id": "t2"}
    lines = sealed_lines(STARTED, v1, later).splitlines(keepends=True)
    directory = tmp_path / "journal"
    directory.mkdir()
    closed = directory / f"{1:020d}.jsonl"
    closed.write_bytes(b"".join(lines[:2]))
    (directory / f"{3:020d}.jsonl").write_bytes(lines[2])
    data = closed.read_bytes()
    write_digest(closed, len(data), hashlib.sha256(data).hexdigest())

    events = list(opened(directory).replay())

    assert [type(e) for e in events] == [TurnStarted, RunFinished, TurnStarted]
    assert events[1].usage == Usage(input_tokens=120, output_tokens=30)
    assert closed.read_bytes() == data


def test_an_event_from_a_newer_conserje_in_a_closed_segment_is_named(tmp_path):
    newer = {**STARTED, "seq": 2, "version": 2, "v": 99, "turn_id": "t2"}
    lines = sealed_lines(STARTED, newer, {**STARTED, "seq": 3, "version": 3}).splitlines(True)
    directory = tmp_path / "journal"
    directory.mkdir()
    closed = directory / f"{1:020d}.jsonl"
    closed.write_bytes(b"".join(lines[:2]))
    (directory / f"{3:020d}.jsonl").write_bytes(lines[2])
    write_digest(closed, len(b"".join(lines[:2])), hashlib.sha256(b"".join(lines[:2])).hexdigest())

    with pytest.raises(JournalCorrupt, match="upgrade") as caught:
        list(opened(directory).replay())

    assert (caught.value.path, caught.value.line) == (closed, 2)
    assert json.loads(lines[1])["v"] == 99


@pytest.fixture
def long_open_segment(tmp_path):
    """One open segment of several decoding blocks, with multi-event appends."""
    directory = tmp_path / "journal"
    journal = started(directory)
    written = append_turns(journal, 200, 40)
    journal.close()
    (segment,) = list_segments(directory)
    assert segment.path.stat().st_size > 2 * 1024 * 1024
    return directory, segment.path, written


def test_damage_deep_in_a_long_open_segment_is_named_by_line(long_open_segment):
    directory, path, _ = long_open_segment
    lines = lines_of(path)
    lines[7001] = lines[7001].replace(b"diciembre", b"diciembrE", 1)
    path.write_bytes(b"".join(lines))

    with pytest.raises(JournalCorrupt, match="hash does not match") as caught:
        list(opened(directory).replay())

    assert (caught.value.path, caught.value.line) == (path, 7002)


def test_an_unfinished_append_after_many_blocks_is_cut_and_the_rest_kept(long_open_segment):
    directory, path, written = long_open_segment
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[:-25]))
    journal = JsonlJournal(directory, clock=lambda: 1_800_000_000.0)

    assert list(journal.replay()) == written[:-40]
    assert path.read_bytes() == b"".join(lines[:-40])
    journal.start()
    (after,) = journal.append([MessageReceived(chat=CHATS[0], message_id="n", text="hola")])
    journal.close()
    assert after.seq == written[-40].seq
