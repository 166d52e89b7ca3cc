"""`conserje log trace` over journals written by the real JsonlJournal: every way a turn ends."""

from __future__ import annotations

import json

from conserje.eventlog.events import (
    HandlerFailed,
    MessageReceived,
    MessagesQuarantined,
    RunStarted,
    TurnHeld,
    TurnStarted,
)
from tests.audit.conftest import CHAT, OTHER, START, a_turn, messages, run_log, write_journal


def trace(data_dir, *args):
    done = run_log("trace", "--data-dir", str(data_dir), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_buffer_wait_and_typing_that_held_it_are_part_of_the_trace(data_dir):
    write_journal(
        data_dir,
        [
            *messages(2),
            [TurnHeld(chat=CHAT, status="typing", until=START + 500)],
            *messages(1, chat=OTHER),
            a_turn(CHAT, "t1", "m0"),
        ],
    )
    # a_turn names only m0: m1 waits for a later turn and is not in this one.
    found = trace(data_dir, "t1")
    assert [s["type"] for s in found["stages"]] == [
        "message_received",
        "turn_held",
        "turn_started",
        "turn_finished",
    ]
    assert found["chat"] == CHAT
    assert (found["outcome"], found["error"]) == ("failed", "model down")
    # Appends are a minute apart: m0 at +1, typing at +3, the turn at +5 minutes.
    assert found["spent"]["buffer"] == 4 * 60
    assert found["seconds"] == 4 * 60
    assert [s["step"] for s in found["stages"]] == [0, 120, 120, 0]


def test_a_quarantined_turn_and_a_turn_still_in_flight_are_traced(data_dir):
    write_journal(
        data_dir,
        [
            *messages(2),
            [TurnStarted(chat=CHAT, turn_id="t1", message_ids=["m0"])],
            [HandlerFailed(chat=CHAT, handling="Tick", error="RuntimeError: bug", work="t1")],
            [
                MessagesQuarantined(
                    chat=CHAT, turn_id="t1", message_ids=["m0"], error="RuntimeError: bug"
                )
            ],
            [TurnStarted(chat=CHAT, turn_id="t2", message_ids=["m1"])],
            [RunStarted(chat=CHAT, turn_id="t2", response_id="r", model="m", background=True)],
        ],
    )
    quarantined = trace(data_dir, "t1")
    assert quarantined["outcome"] == "quarantined"
    assert quarantined["stages"][-1]["type"] == "messages_quarantined"
    assert "handler_failed" in [s["type"] for s in quarantined["stages"]]

    latest = trace(data_dir, "--chat", CHAT)
    assert (latest["turnId"], latest["outcome"]) == ("t2", "")
    assert latest["stages"][-1]["type"] == "run_started"
    # t2's message arrived before t1 started, so t2 is the slower one.
    assert trace(data_dir, "--chat", CHAT, "--slowest")["turnId"] == "t2"

    text = run_log("trace", "--data-dir", str(data_dir), "t2").stdout
    assert text.startswith("turn t2 in 346****22@s.whatsapp.net: still in flight ")


def test_slowest_needs_a_chat(data_dir):
    write_journal(data_dir, [[MessageReceived(chat=CHAT, message_id="m0", text="hola")]])
    done = run_log("trace", "--data-dir", str(data_dir), "t1", "--slowest")
    assert done.returncode == 2
    assert "--slowest picks among a chat's turns: add --chat" in done.stderr
