"""Snapshots: atomic, checked, a cache the journal confirms, never the truth."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conserje.errors import JournalCorrupt, SnapshotDamaged
from conserje.eventlog.events import (
    MediaRef,
    MediaTranscribed,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    ThreadCompacted,
    TurnFinished,
    TurnStarted,
    Usage,
)
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.projection import ChatState, guest_words
from conserje.eventlog.restore import restore
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.snapshot import KEEP, write_snapshot
from conserje.eventlog.snapshotter import Snapshotter
from conserje.testing.wait import wait_for
from tests.eventlog.tamper import break_chat, reseal

FIXTURES = Path(__file__).parent / "fixtures"
CHATS = [f"3460000000{n}@s.whatsapp.net" for n in range(3)]


def clock() -> float:
    return 1_800_000_000.0


def turn_events(chat: str, n: int, *, finished: bool = True) -> list:
    mid, tid = f"m{n}-{chat[:11]}", f"t{n}"
    steps = [
        MessageReceived(chat=chat, message_id=mid, sender="Lucía", text=f"pregunta {n}"),
        TurnStarted(chat=chat, turn_id=tid, message_ids=[mid]),
        RunStarted(chat=chat, turn_id=tid, response_id=f"resp_{n}", model="m", background=True),
        RunFinished(chat=chat, turn_id=tid, status="completed", text=f"respuesta {n}"),
        ReplySending(chat=chat, turn_id=tid, chunk=0, text=f"respuesta {n}"),
    ]
    if finished:
        steps += [
            ReplySent(chat=chat, turn_id=tid, chunk=0, whapi_id=f"W{n}", text=f"respuesta {n}"),
            TurnFinished(chat=chat, turn_id=tid, outcome="replied"),
        ]
    return steps


def build(tmp_path, plan):
    """Append ``plan`` (a list of appends); snapshot where the plan says 'snap'."""
    journal = JsonlJournal(tmp_path / "journal", clock=clock, segment_bytes=2048)
    seen = SeenIds()
    restored = restore(journal, tmp_path / "snapshots", seen)
    states = restored.states
    journal.start()
    for step in plan:
        if step == "snap":
            write_snapshot(tmp_path / "snapshots", journal.position(), states, seen.recent())
            continue
        for event in journal.append(step):
            states.setdefault(event.chat, ChatState(event.chat)).apply(event)
            if isinstance(event, MessageReceived):
                seen.claim([event.message_id])
    journal.close()
    return states


def restored_from(tmp_path):
    return restore(
        JsonlJournal(tmp_path / "journal", clock=clock), tmp_path / "snapshots", SeenIds()
    )


def test_restoring_from_a_snapshot_replays_only_the_tail_and_matches(tmp_path):
    live = build(
        tmp_path,
        [turn_events(CHATS[0], 1), turn_events(CHATS[1], 2), "snap", turn_events(CHATS[0], 3)],
    )
    restored = restored_from(tmp_path)

    assert restored.snapshot is not None
    assert restored.replayed == 7
    assert restored.states == live


def test_an_unfinished_turn_survives_a_snapshot(tmp_path):
    live = build(tmp_path, [turn_events(CHATS[0], 1, finished=False), "snap"])
    restored = restored_from(tmp_path)
    turn = restored.states[CHATS[0]].turn
    assert turn is not None
    assert turn.uncertain_chunks == [0]
    assert turn.reply == "respuesta 1"
    assert restored.states == live
    assert restored.replayed == 0


def test_what_the_server_compacted_survives_a_snapshot(tmp_path):
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hola"}]},
        {"type": "compaction", "id": "cmp_1", "encrypted_content": "b3BhcXVl"},
    ]
    compacted = ThreadCompacted(
        chat=CHATS[0], kept=1, tokens_before=900, reason="threshold", method="server", items=items
    )
    turns = [turn_events(CHATS[0], 1), turn_events(CHATS[0], 2)]
    live = build(tmp_path, [*turns, [compacted], "snap"])
    restored = restored_from(tmp_path)

    assert restored.replayed == 0
    assert restored.states[CHATS[0]].compacted == items
    assert [h.text for h in restored.states[CHATS[0]].history] == ["respuesta 2"]
    assert restored.states == live


def test_only_the_newest_snapshots_are_kept(tmp_path):
    plan = []
    for n in range(5):
        plan += [turn_events(CHATS[n % 3], n), "snap"]
    build(tmp_path, plan)
    assert len(list((tmp_path / "snapshots").glob("*.snapshot"))) == KEEP


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw.replace(b"respuesta 1", b"respuesta X"),
        lambda raw: b"not a snapshot at all\n",
    ],
    ids=["cut short", "altered", "foreign"],
)
def test_a_damaged_snapshot_is_reported_and_an_older_one_used(tmp_path, caplog, damage):
    live = build(tmp_path, [turn_events(CHATS[0], 1), "snap", turn_events(CHATS[1], 2), "snap"])
    newest = sorted((tmp_path / "snapshots").glob("*.snapshot"))[-1]
    newest.write_bytes(damage(newest.read_bytes()))

    with caplog.at_level(logging.WARNING):
        restored = restored_from(tmp_path)

    assert str(newest) in caplog.text
    assert restored.snapshot is not None
    assert restored.snapshot != newest
    assert restored.states == live


def test_a_leftover_temporary_file_is_ignored(tmp_path):
    live = build(tmp_path, [turn_events(CHATS[0], 1), "snap"])
    (tmp_path / "snapshots" / f"{99:020d}.tmp").write_bytes(b'{"format":"conserje-sn')
    assert restored_from(tmp_path).states == live


def test_a_snapshot_the_journal_does_not_confirm_falls_back_to_full_replay(tmp_path, caplog):
    build(tmp_path, [turn_events(CHATS[0], 1), turn_events(CHATS[1], 2), "snap"])
    # The journal is replaced by an older backup: the snapshot is ahead of it.
    other = tmp_path / "older"
    live = build(other, [turn_events(CHATS[0], 1)])
    (tmp_path / "journal").rename(tmp_path / "journal.newer")
    (other / "journal").rename(tmp_path / "journal")

    with caplog.at_level(logging.WARNING):
        restored = restored_from(tmp_path)

    assert "does not match the journal" in caplog.text
    assert restored.snapshot is None
    assert restored.states == live


def test_damage_in_the_journal_itself_still_stops_boot(tmp_path):
    build(tmp_path, [turn_events(CHATS[0], 1), "snap", turn_events(CHATS[0], 2)])
    (segment,) = [
        p for p in (tmp_path / "journal").glob("*.jsonl") if b"pregunta 2" in p.read_bytes()
    ]
    segment.write_bytes(segment.read_bytes().replace(b"pregunta 2", b"pregunta X"))
    with pytest.raises(JournalCorrupt):
        restored_from(tmp_path)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.one_of(st.just("snap"), st.tuples(st.integers(0, 2), st.booleans())), max_size=12)
)
def test_any_snapshot_point_restores_the_same_state_as_full_replay(tmp_path_factory, shape):
    tmp_path = tmp_path_factory.mktemp("s")
    plan, open_turn = [], set()
    for n, step in enumerate(shape):
        if step == "snap":
            plan.append("snap")
            continue
        chat_index, finished = step
        if chat_index in open_turn:
            continue
        if not finished:
            open_turn.add(chat_index)
        plan.append(turn_events(CHATS[chat_index], n, finished=finished))
    live = build(tmp_path, plan)
    assert restored_from(tmp_path).states == live


def test_closed_segments_are_folded_into_snapshots_while_appends_go_on(tmp_path):
    snapshots = tmp_path / "snapshots"
    snapshotter = Snapshotter(tmp_path / "journal", snapshots)
    snapshotter.start()
    journal = JsonlJournal(
        tmp_path / "journal", clock=clock, segment_bytes=2048, on_rotate=snapshotter.request
    )
    journal.start()
    live: dict = {}
    for n in range(60):
        for event in journal.append(turn_events(CHATS[n % 3], n)):
            live.setdefault(event.chat, ChatState(event.chat)).apply(event)
    wait_for(lambda: snapshotter.written >= 1, what="a snapshot folded from closed segments")
    journal.close()
    snapshotter.stop()

    restored = restored_from(tmp_path)
    assert restored.snapshot is not None
    assert restored.replayed < 60 * 7
    assert restored.states == live


def test_a_fold_that_fails_is_logged_and_the_snapshotter_goes_on(tmp_path, caplog):
    calls: list[int] = []

    def folder(journal_dir, snapshot_dir, before):
        calls.append(before)
        if len(calls) == 1:
            raise JournalCorrupt(journal_dir, 3, "damaged for the test")
        return snapshot_dir / "x.snapshot"

    snapshotter = Snapshotter(tmp_path / "j", tmp_path / "s", folder=folder)
    snapshotter.start()
    with caplog.at_level(logging.ERROR):
        snapshotter.request(10)
        wait_for(lambda: calls, what="first fold")
        snapshotter.request(20)
        wait_for(lambda: snapshotter.written == 1, what="second fold")
    snapshotter.stop()
    assert "snapshot before seq 10 failed" in caplog.text


def test_a_snapshot_from_before_a_field_existed_still_loads(tmp_path):
    live = build(tmp_path, [turn_events(CHATS[0], 1), "snap"])
    (path,) = (tmp_path / "snapshots").glob("*.snapshot")

    def drop_fields(snapshot):
        for stored in snapshot["states"]:
            del stored["state"]["presence_subscribed"], stored["state"]["last_input_tokens"]

    reseal(path, drop_fields)
    restored = restored_from(tmp_path)
    assert restored.snapshot == path
    assert restored.states[CHATS[0]].history == live[CHATS[0]].history


def test_a_transcribed_voice_note_and_an_unsent_voice_reply_survive_a_snapshot(tmp_path):
    chat = CHATS[0]
    voice = MessageReceived(
        chat=chat, message_id="v1", text="", media=MediaRef(kind="voice", id="oga-1", size=9)
    )
    transcribed = MediaTranscribed(
        chat=chat,
        message_id="v1",
        transcript="¿hay sitio?",
        file="ab.ogg",
        size=9,
        sha256="ab",
        model="gpt-transcribe",
    )
    photo = MessageReceived(
        chat=chat, message_id="p1", text="grifo", media=MediaRef(kind="image", id="jpeg-1")
    )
    turn = [
        TurnStarted(chat=chat, turn_id="t1", message_ids=["v1"]),
        RunStarted(chat=chat, turn_id="t1", response_id="r", model="m", background=True),
        RunFinished(chat=chat, turn_id="t1", status="completed", text="Sí"),
        ReplySending(chat=chat, turn_id="t1", chunk=0, text="Sí", audio="voice_1_1.ogg"),
    ]
    live = build(tmp_path, [[voice, transcribed], turn, [photo], "snap"])
    restored = restored_from(tmp_path)

    state = restored.states[chat]
    assert restored.replayed == 0
    assert state == live[chat]
    (message,) = state.turn.messages
    assert guest_words(message) == "(voice note) ¿hay sitio?"
    assert state.turn.audio == {0: "voice_1_1.ogg"}
    unprocessed = "(the guest sent an image that was not processed) grifo"
    assert guest_words(state.pending["p1"]) == unprocessed


def test_a_snapshot_written_with_schema_1_still_loads(tmp_path):
    # Written by the schema-1 writer (commit abcea9d): one chat compacted on the server,
    # one with a turn unfinished, one with a message waiting, then a turn after it.
    shutil.copytree(FIXTURES / "snapshot-schema1", tmp_path, dirs_exist_ok=True)
    (path,) = (tmp_path / "snapshots").glob("*.snapshot")
    assert b'"schema":1' in path.read_bytes()
    seen = SeenIds()

    restored = restore(JsonlJournal(tmp_path / "journal", clock=clock), path.parent, seen)

    full = restore(JsonlJournal(tmp_path / "journal", clock=clock), tmp_path / "none", SeenIds())
    assert restored.snapshot == path
    assert restored.replayed == 7
    assert restored.states == full.states
    assert restored.states.with_work() == [CHATS[1], CHATS[2]]
    assert restored.states[CHATS[0]].compacted[0]["id"] == "cmp_1"
    assert {"m4-34600000001", "m5-pending", "m6-34600000000"} <= set(seen.recent())


def test_boot_reads_what_it_needs_of_a_snapshot_without_decoding_any_chat(tmp_path):
    used = RunFinished(
        chat=CHATS[0], turn_id="t9", status="completed", text="ok", usage=Usage(input_tokens=900)
    )
    steps = turn_events(CHATS[0], 9)
    steps[3] = used
    live = build(tmp_path, [steps, turn_events(CHATS[1], 2, finished=False), "snap"])
    (path,) = (tmp_path / "snapshots").glob("*.snapshot")
    reseal(path, break_chat(CHATS[0]))

    states = restored_from(tmp_path).states

    assert len(states) == 2
    assert CHATS[0] in states
    assert states.with_work() == [CHATS[1]]
    assert dict(states.input_tokens()) == {CHATS[0]: 900, CHATS[1]: 0}
    assert states[CHATS[1]] == live[CHATS[1]]
    with pytest.raises(SnapshotDamaged):
        states[CHATS[0]]


def test_a_chat_that_cannot_be_decoded_when_the_journal_after_needs_it_means_an_older_start(
    tmp_path, caplog
):
    plan = [turn_events(CHATS[0], 1), "snap", turn_events(CHATS[1], 2), "snap"]
    live = build(tmp_path, [*plan, turn_events(CHATS[0], 3)])
    newest = sorted((tmp_path / "snapshots").glob("*.snapshot"))[-1]
    reseal(newest, break_chat(CHATS[0]))

    with caplog.at_level(logging.WARNING):
        restored = restored_from(tmp_path)

    assert f"snapshot {newest} does not match the journal or cannot be read" in caplog.text
    assert restored.snapshot not in (None, newest)
    assert restored.states == live


def test_a_chat_altered_inside_a_snapshot_fails_the_whole_snapshots_checksum(tmp_path, caplog):
    live = build(tmp_path, [turn_events(CHATS[0], 1), turn_events(CHATS[1], 2), "snap"])
    (path,) = (tmp_path / "snapshots").glob("*.snapshot")
    path.write_bytes(path.read_bytes().replace(b"respuesta 2", b"respuesta X"))

    with caplog.at_level(logging.WARNING):
        restored = restored_from(tmp_path)

    assert "checksum does not match" in caplog.text
    assert restored.snapshot is None
    assert restored.states == live


def test_a_snapshot_of_restored_states_keeps_chats_never_decoded_and_those_changed(tmp_path):
    live = build(tmp_path, [turn_events(CHATS[0], 1), turn_events(CHATS[1], 2), "snap"])
    (first,) = (tmp_path / "snapshots").glob("*.snapshot")
    restored = restored_from(tmp_path)
    restored.states[CHATS[1]].guest_name = "Ana"  # decoded, and changed
    journal = JsonlJournal(tmp_path / "journal", clock=clock)
    for _ in journal.replay():
        pass

    second = write_snapshot(tmp_path / "next", journal.position(), restored.states, [])

    def stored(path, chat):
        body = path.read_bytes().rpartition(b"\n#blake2b:")[0]
        (entry,) = [s for s in json.loads(body)["states"] if s["chat"] == chat]
        return entry["state"]

    assert stored(second, CHATS[0]) == stored(first, CHATS[0])
    assert stored(second, CHATS[1])["guest_name"] == "Ana"
    again = restore(JsonlJournal(tmp_path / "journal", clock=clock), second.parent, SeenIds())
    assert again.states[CHATS[0]] == live[CHATS[0]]
