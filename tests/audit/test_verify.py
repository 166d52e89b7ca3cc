"""`conserje log verify` and verify_journal: every kind of damage named at its first bad line."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conserje.audit.progress import Progress
from conserje.errors import JournalCorrupt
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.reader import read_journal, verify_journal
from conserje.eventlog.segments import list_segments
from tests.audit.conftest import OTHER, a_turn, files_state, messages, run_log, write_journal


@pytest.fixture
def journal(data_dir) -> Path:
    """Ten messages in three segments of four, four and two lines."""
    write_journal(data_dir, messages(10))
    return data_dir / "journal"


def flat(text: str) -> str:
    """Undo the paragraph wrapping of the command's output."""
    return " ".join(text.split())


def segment(journal: Path, index: int) -> Path:
    return list_segments(journal)[index].path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(edit(lines(path))))


def flip_a_byte(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 1)
    path.write_bytes(path.read_bytes().replace(b'"text":"text-05"', b'"text":"text-0X"'))
    return path, 2


def delete_a_line(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 1)
    rewrite(path, lambda ls: [ls[0], *ls[2:]])
    return path, 2


def swap_two_lines(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 1)
    rewrite(path, lambda ls: [ls[0], ls[2], ls[1], ls[3]])
    return path, 2


def edit_a_text(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 1)
    path.write_bytes(path.read_bytes().replace(b"text-06", b"something else entirely"))
    return path, 3


def delete_a_middle_segment(journal: Path) -> tuple[Path, int]:
    segment(journal, 1).unlink()
    return segment(journal, 1), 1


def delete_the_first_segment(journal: Path) -> tuple[Path, int]:
    segment(journal, 0).unlink()
    return segment(journal, 0), 1


def convert_to_crlf(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 1)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return path, 1


def alter_the_very_last_line(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 2)
    path.write_bytes(path.read_bytes().replace(b"text-09", b"text-99"))
    return path, 2


def add_a_file_that_is_not_ours(journal: Path) -> tuple[Path, int]:
    path = journal / "notes.jsonl"
    path.write_text('{"hello": "world"}\n', encoding="utf-8")
    return path, 0


def garble_a_segment(journal: Path) -> tuple[Path, int]:
    path = segment(journal, 2)
    path.write_bytes(b"this is not a journal\n" * 3)
    return path, 1


TAMPERS = [
    flip_a_byte,
    delete_a_line,
    swap_two_lines,
    edit_a_text,
    delete_a_middle_segment,
    delete_the_first_segment,
    convert_to_crlf,
    alter_the_very_last_line,
    add_a_file_that_is_not_ours,
    garble_a_segment,
]


def test_an_intact_journal_of_several_segments_verifies(journal):
    before = files_state(journal)

    report = verify_journal(journal)
    result = run_log("verify", "--data-dir", str(journal.parent))

    assert report.ok
    assert (report.events, report.segments) == (10, 3)
    assert report.bytes == sum(len(p.read_bytes()) for p in journal.glob("*.jsonl"))
    assert (report.first_problem, report.torn_tail) == (None, False)
    assert result.returncode == 0, result.stderr
    assert "intact: 10 events in 3 segments" in flat(result.stdout)
    assert result.stderr == ""  # piped: no progress bar
    assert files_state(journal) == before


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.__name__)
def test_damage_is_named_at_its_first_bad_line(journal, tmp_path, tamper):
    bad_file, bad_line = tamper(journal)
    before = files_state(journal)

    report = verify_journal(journal)
    result = run_log("verify", "--data-dir", str(journal.parent))

    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.segment, report.first_problem.line) == (bad_file, bad_line)
    assert result.returncode == 1, result.stderr
    place = f"{bad_file}, line {bad_line}" if bad_line else str(bad_file)
    assert f"First bad line: {place}" in result.stdout
    assert report.first_problem.reason in flat(result.stdout)
    assert "backup" in result.stdout
    assert "Traceback" not in result.stderr
    assert files_state(journal) == before
    # The server's own replay refuses the same journal: verify and boot agree.
    copy = tmp_path / "copy"
    shutil.copytree(journal, copy)
    with pytest.raises(JournalCorrupt):
        list(JsonlJournal(copy, clock=lambda: 0.0).replay())


def test_events_before_the_damage_are_counted_and_read(journal):
    flip_a_byte(journal)
    report = verify_journal(journal)
    read = []
    with pytest.raises(JournalCorrupt) as caught:
        read.extend(read_journal(journal))

    assert report.events == 5
    assert [r.event.text for r in read] == [f"text-{n:02d}" for n in range(5)]
    assert (caught.value.path, caught.value.line) == (segment(journal, 1), 2)


@pytest.mark.parametrize(
    "tail",
    [b'{"type":"message_received","seq":11,"chat":"34', b"garbage without a newline"],
)
def test_a_torn_tail_is_reported_but_is_not_damage(journal, tail):
    last = segment(journal, 2)
    last.write_bytes(last.read_bytes() + tail)
    before = files_state(journal)

    report = verify_journal(journal)
    result = run_log("verify", "--data-dir", str(journal.parent))

    assert report.ok
    assert report.torn_tail
    assert report.events == 10
    assert report.first_problem is not None
    assert (report.first_problem.segment, report.first_problem.line) == (last, 3)
    assert result.returncode == 0, result.stderr
    assert "cut short" in result.stdout
    assert f"{last}, line 3" in flat(result.stdout)
    assert files_state(journal) == before


def test_an_unfinished_multi_line_append_at_the_end_is_a_torn_tail(data_dir):
    write_journal(data_dir, [*messages(2), a_turn(OTHER, "t1", "x")], segment_bytes=1 << 20)
    journal = data_dir / "journal"
    path = segment(journal, 0)
    rewrite(path, lambda ls: ls[:-1])  # the append's last line never reached the disk

    report = verify_journal(journal)

    assert report.ok
    assert report.torn_tail
    assert report.events == 2
    assert report.first_problem is not None
    assert report.first_problem.line == 3
    assert "cut short" in report.first_problem.reason


def test_an_unfinished_append_inside_an_earlier_segment_is_damage(data_dir):
    write_journal(data_dir, [a_turn(OTHER, "t1", "x"), *messages(4)], segment_bytes=300)
    journal = data_dir / "journal"
    first = segment(journal, 0)
    rewrite(first, lambda ls: ls[:1])

    report = verify_journal(journal)

    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.segment, report.first_problem.line) == (first, 1)


def test_verify_json_is_one_object(journal):
    delete_a_line(journal)
    result = run_log("verify", "--data-dir", str(journal.parent), "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert report["events"] == 5
    assert report["first_problem"]["segment"] == str(segment(journal, 1))
    assert report["first_problem"]["line"] == 2
    assert report["torn_tail"] is False


def test_a_missing_data_dir_or_journal_is_a_usage_error(tmp_path):
    missing = run_log("verify", "--data-dir", str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    no_journal = run_log("verify", "--data-dir", str(tmp_path / "empty"))

    for result in (missing, no_journal):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
    assert "does not exist" in missing.stderr
    assert "no journal" in no_journal.stderr


def test_the_progress_bar_draws_on_a_terminal_at_most_ten_times_a_second():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [0.0]
    screen = Terminal()
    with Progress(1000, "checking", stream=screen, clock=lambda: now[0]) as progress:
        for done in range(0, 1001, 10):
            now[0] += 0.01
            progress(done)
        drawn = screen.getvalue()

    assert drawn.count("\r") == 10
    assert "checking [" in drawn
    assert "100%" in drawn
    assert screen.getvalue().endswith("\r")
    assert screen.getvalue()[len(drawn) :].strip() == ""


def test_the_progress_bar_stays_quiet_off_a_terminal():
    piped = io.StringIO()
    now = [0.0]
    with Progress(10, "checking", stream=piped, clock=lambda: now[0]) as progress:
        now[0] = 5.0
        progress(5)
    assert piped.getvalue() == ""
