"""verify_journal and read_journal over segments of several megabytes.

They check blocks of whole appends as they read them (replay's own checks) and go line
by line only from the first block that fails, so damage is named at the same line,
wherever it falls: in a later block, astride two reads, on the last line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conserje.errors import JournalCorrupt
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.reader import _READ_BYTES, read_journal, verify_journal
from conserje.eventlog.segments import list_segments
from tests.audit.conftest import a_turn, write_journal

APPENDS = 4000
"""Each a message then a two-line turn: 12,000 lines, about 3 MiB in one segment."""


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("big") / "data"
    write_journal(
        data_dir,
        [
            batch
            for n in range(APPENDS)
            for batch in (
                [
                    MessageReceived(
                        chat=f"3460011{n % 50:04d}@s.whatsapp.net",
                        message_id=f"m{n}",
                        text=f"message {n} " + "x" * 150,
                    )
                ],
                a_turn(f"3460011{n % 50:04d}@s.whatsapp.net", f"t{n}", f"m{n}"),
            )
        ],
        segment_bytes=64 << 20,
    )
    (segment,) = list_segments(data_dir / "journal")
    assert segment.path.stat().st_size > 3 * _READ_BYTES
    return data_dir / "journal"


@pytest.fixture
def journal(big, tmp_path) -> Path:
    copy = tmp_path / "journal"
    copy.mkdir()
    for path in big.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def the_segment(journal: Path) -> Path:
    (segment,) = list_segments(journal)
    return segment.path


def line_at(data: bytes, offset: int) -> int:
    """The 1-based number of the line holding byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def test_a_big_intact_journal_is_read_whole_with_every_line_s_place(journal):
    data = the_segment(journal).read_bytes()

    report = verify_journal(journal)
    lines = list(read_journal(journal))

    assert report.ok
    assert (report.events, report.bytes, report.torn_tail) == (3 * APPENDS, len(data), False)
    assert [line.line for line in lines] == list(range(1, 3 * APPENDS + 1))
    assert [line.event.seq for line in lines] == list(range(1, 3 * APPENDS + 1))
    assert [line.raw_size for line in lines] == [len(raw) for raw in data.splitlines(True)]


@pytest.mark.parametrize(
    "where",
    ["astride the first read", "in a later block", "the last line", "the first line"],
)
def test_damage_anywhere_in_a_big_segment_is_named_at_its_line(journal, where):
    path = the_segment(journal)
    data = path.read_bytes()
    offset = {
        "astride the first read": _READ_BYTES,
        "in a later block": 3 * _READ_BYTES - 5000,
        "the last line": len(data) - 60,
        "the first line": 10,
    }[where]
    # A digit of a line's body: the line is still whole, but its seal no longer fits.
    offset = next(i for i in range(offset, len(data)) if data[i : i + 1].isdigit())
    bad_line = line_at(data, offset)
    path.write_bytes(
        data[:offset] + (b"7" if data[offset] != ord("7") else b"8") + data[offset + 1 :]
    )

    report = verify_journal(journal)
    read = []
    with pytest.raises(JournalCorrupt) as caught:
        read.extend(read_journal(journal))

    assert not report.ok
    assert report.first_problem is not None
    assert (report.first_problem.segment, report.first_problem.line) == (path, bad_line)
    # What comes before the bad line is counted and read, whole appends only: lines
    # go message, turn started, turn finished, and a turn is one append of two lines.
    before = bad_line - 2 if bad_line % 3 == 0 else bad_line - 1
    assert report.events == before
    assert [line.line for line in read] == list(range(1, before + 1))
    assert (caught.value.path, caught.value.line) == (path, bad_line)


def test_a_big_segment_cut_mid_append_is_a_torn_tail(journal):
    path = the_segment(journal)
    data = path.read_bytes()
    # Cut inside the last append's second line: its first line stays whole.
    path.write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 40])

    report = verify_journal(journal)

    assert report.ok
    assert report.torn_tail
    # The whole append (a turn's two lines) is left out, from its first line.
    assert report.events == 3 * APPENDS - 2
    assert report.first_problem is not None
    assert report.first_problem.line == 3 * APPENDS - 1
