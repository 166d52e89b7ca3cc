"""`conserje log show` and `stats` over journals written by the real JsonlJournal."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from conserje.audit.filters import parse_time
from conserje.audit.narrate import has_story, narrate
from conserje.eventlog.events import EVENT_TYPES, Event, ReplySent, RunFinished
from tests.audit.conftest import (
    CHAT,
    OTHER,
    START,
    a_turn,
    files_state,
    messages,
    run_log,
    write_journal,
)

MASKED = "346****22@s.whatsapp.net"


@pytest.fixture
def two_chats(data_dir):
    """Five messages from CHAT, then one from OTHER with a failed turn: 08:01 to 08:07 UTC."""
    return write_journal(
        data_dir,
        [*messages(5), *messages(1, chat=OTHER), a_turn(OTHER, "t1", "m0")],
    )


def what(line: str) -> str:
    """The story part of a line, after its time, chat and who."""
    return line.split(maxsplit=3)[3]


def shown(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_show_tells_every_chat_with_chats_masked(data_dir, two_chats):
    out = shown(run_log("show", "--data-dir", str(data_dir)))

    assert len(out) == len(two_chats) == 8
    assert out[0] == f'2027-01-15T08:01:00+00:00  {MASKED}  guest      "text-00"'
    assert out[-2].endswith("system     turn t1 started with 1 message")
    assert out[-1].endswith("system     turn t1 finished: failed (model down)")
    assert CHAT not in "\n".join(out)


@pytest.mark.parametrize("chat", [CHAT, "34600111222", "+34600111222"])
def test_show_one_chat_by_id_or_phone_digits_unmasked(data_dir, two_chats, chat):
    out = shown(run_log("show", "--data-dir", str(data_dir), "--chat", chat))

    assert len(out) == 5
    assert all(f"  {CHAT}  guest  " in line for line in out)


def test_show_filters_by_repeated_type(data_dir, two_chats):
    out = shown(
        run_log(
            "show", "--data-dir", str(data_dir), "--type", "turn_started", "--type", "turn_finished"
        )
    )
    assert [what(line) for line in out] == [
        "turn t1 started with 1 message",
        "turn t1 finished: failed (model down)",
    ]


def test_show_filters_by_iso_time(data_dir, two_chats):
    window = shown(
        run_log(
            "show",
            "--data-dir",
            str(data_dir),
            "--since",
            "2027-01-15T08:02",
            "--until",
            "2027-01-15T08:04",
        )
    )
    whole_day = shown(run_log("show", "--data-dir", str(data_dir), "--since", "2027-01-15"))
    later = run_log("show", "--data-dir", str(data_dir), "--since", "2027-01-16")

    assert [what(line) for line in window] == ['"text-01"', '"text-02"']
    assert len(whole_day) == 8
    assert (later.returncode, later.stdout) == (0, "")
    assert "no events match" in later.stderr


def test_show_filters_by_time_ago(data_dir):
    # One message every 30 minutes for the last six hours, offset so no event sits on a boundary.
    write_journal(data_dir, messages(12), start=time.time() - 6 * 3600 + 900, step=1800)
    recent = shown(run_log("show", "--data-dir", str(data_dir), "--since", "2h"))
    older = shown(run_log("show", "--data-dir", str(data_dir), "--until", "120m"))

    assert [what(line) for line in recent] == [f'"text-{n:02d}"' for n in range(7, 12)]
    assert [what(line) for line in older] == [f'"text-{n:02d}"' for n in range(7)]


def test_show_json_is_the_events_as_on_disk_without_the_seal(data_dir, two_chats):
    result = run_log("show", "--data-dir", str(data_dir), "--json")
    on_disk = [
        json.loads(line)
        for path in sorted((data_dir / "journal").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]

    events = [json.loads(line) for line in shown(result)]
    assert events == [{k: v for k, v in line.items() if k not in ("h", "more")} for line in on_disk]
    assert any("more" in line for line in on_disk)


def test_stats_counts_what_the_journal_holds(data_dir, two_chats):
    numbers = json.loads(run_log("stats", "--data-dir", str(data_dir), "--json").stdout)
    text = shown(run_log("stats", "--data-dir", str(data_dir)))

    assert numbers["events"] == 8
    assert numbers["by_type"]["message_received"] == 6
    assert numbers["by_type"]["turn_finished"] == 1
    assert numbers["by_type"]["reply_sent"] == 0
    assert numbers["chats"] == 2
    assert (numbers["first_ts"], numbers["last_ts"]) == (START + 60, START + 7 * 60)
    assert numbers["first"] == "2027-01-15T08:01:00+00:00"
    assert numbers["turns"] == {"failed": 1}
    assert (numbers["turns_started"], numbers["replies_sent"]) == (1, 0)
    assert numbers["segments"] == len(list((data_dir / "journal").glob("*.jsonl")))
    assert "Chats: 2" in text


def test_show_and_stats_print_what_precedes_damage_then_fail(data_dir, two_chats):
    segments = sorted((data_dir / "journal").glob("*.jsonl"))
    damaged = segments[1]
    damaged.write_bytes(damaged.read_bytes().replace(b"text-04", b"text-4X", 1))

    show = run_log("show", "--data-dir", str(data_dir))
    stats = run_log("stats", "--data-dir", str(data_dir), "--json")

    assert show.returncode == stats.returncode == 1
    assert len(show.stdout.splitlines()) == 4
    assert json.loads(stats.stdout)["events"] == 4
    for result in (show, stats):
        assert f"{damaged}, line 1" in result.stderr
        assert "hash does not match" in result.stderr
        assert "Traceback" not in result.stderr


def test_show_leaves_a_torn_tail_out_and_in_place(data_dir, two_chats):
    last = sorted((data_dir / "journal").glob("*.jsonl"))[-1]
    last.write_bytes(last.read_bytes() + b'{"type":"message_received","seq":9,')
    before = files_state(data_dir)

    out = shown(run_log("show", "--data-dir", str(data_dir)))

    assert len(out) == 8
    assert files_state(data_dir) == before


def test_bad_input_is_a_clear_message_and_exit_2(tmp_path, data_dir, two_chats):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("hello", encoding="utf-8")
    results = [
        run_log("show", "--data-dir", str(a_file)),
        run_log("stats", "--data-dir", str(data_dir / "journal")),
        run_log("show", "--data-dir", str(data_dir), "--since", "last tuesday"),
        run_log("show", "--data-dir", str(data_dir), "--type", "no_such_type"),
    ]
    for result in results:
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        assert result.stderr.strip()
    assert "not a directory" in results[0].stderr
    assert "its parent may be the data dir" in results[1].stderr


def test_the_data_dir_defaults_to_the_environment_then_to_dot_data(tmp_path, data_dir, two_chats):
    from_env = run_log("stats", "--json", CONSERJE_DATA_DIR=str(data_dir))
    from_cwd = run_log("stats", "--json", cwd=data_dir.parent)

    assert json.loads(from_env.stdout)["events"] == 8
    assert json.loads(from_cwd.stdout)["events"] == 8


def test_parse_time_reads_dates_datetimes_and_durations():
    now = 1_800_000_000.0
    assert parse_time("2h", now=lambda: now) == now - 7200
    assert parse_time("30m", now=lambda: now) == now - 1800
    assert parse_time("7d", now=lambda: now) == now - 7 * 86400
    assert parse_time("2027-01-15T08:00:00+00:00") == now
    assert parse_time("2027-01-15T09:00+01:00") == now
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("soon")


def test_narrate_tells_the_story_and_a_new_event_type_generically():
    class GuestRated(Event, tag="guest_rated", kw_only=True):
        stars: int
        comment: str = ""

    rated = GuestRated(chat=CHAT, stars=5, comment="genial")
    failed = RunFinished(chat=CHAT, turn_id="t", status="failed", error="quota", recovered=True)
    sent = ReplySent(chat=CHAT, turn_id="t", chunk=1, whapi_id="w-1", text="x", reconciled=True)

    class ChatPaused(Event, tag="chat_paused", kw_only=True):
        by: str

    assert narrate(rated) == ("system", 'guest_rated stars=5 comment="genial"')
    assert narrate(ChatPaused(chat=CHAT, by="admin")) == ("admin", 'chat_paused by="admin"')
    assert narrate(failed) == (
        "assistant",
        "run finished: failed (quota) (retrieved after a crash)",
    )
    assert narrate(sent) == ("assistant", "reply chunk 2 sent as w-1 (confirmed after a crash)")


def test_every_event_type_has_its_own_wording():
    assert [t.__name__ for t in EVENT_TYPES if not has_story(t)] == []


@pytest.mark.parametrize("action", ["show", "trace"])
@pytest.mark.parametrize(
    "chat", ["foo", "34600111222@s.whatsapp.ne", "+34600111222@s.whatsapp.net", " ", "a" * 5000]
)
def test_a_chat_that_is_no_chat_is_a_clear_error_not_an_empty_answer(
    data_dir, two_chats, action, chat
):
    result = run_log(action, "--data-dir", str(data_dir), "--chat", chat)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "argument --chat:" in result.stderr
    assert "is not a chat: use its id (34600111222@s.whatsapp.net" in result.stderr
    assert "Traceback" not in result.stderr
