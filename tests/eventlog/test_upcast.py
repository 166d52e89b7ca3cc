"""Old journal lines are read as today's events; their sealed bytes are never rewritten."""

from __future__ import annotations

import hashlib
import json

import pytest

from conserje.errors import JournalCorrupt
from conserje.eventlog.codec import GENESIS
from conserje.eventlog.events import RunFinished, TurnStarted, Usage
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.upcast import CURRENT

CHAT = "34655666777@s.whatsapp.net"


def sealed_lines(*records: dict) -> bytes:
    """Seal raw records as the journal format documents: h = BLAKE2b-128(prev h + body)."""
    out, prev = b"", GENESIS
    for record in records:
        body = json.dumps(record, separators=(",", ":")).encode()
        prev = hashlib.blake2b(prev.encode() + body, digest_size=16).hexdigest()
        out += body[:-1] + b',"h":"' + prev.encode() + b'"}\n'
    return out


def journal_of(tmp_path, *records: dict):
    directory = tmp_path / "journal"
    directory.mkdir()
    (directory / f"{1:020d}.jsonl").write_bytes(sealed_lines(*records))
    return directory


STARTED = {
    "type": "turn_started",
    "seq": 1,
    "chat": CHAT,
    "version": 1,
    "ts": 1.0,
    "v": 1,
    "turn_id": "t1",
    "message_ids": [],
}


def test_a_v1_run_finished_is_read_with_its_tokens_in_usage(tmp_path):
    v1 = {
        "type": "run_finished",
        "seq": 2,
        "chat": CHAT,
        "version": 2,
        "ts": 2.0,
        "v": 1,
        "turn_id": "t1",
        "response_id": "resp_1",
        "status": "completed",
        "text": "hola",
        "input_tokens": 120,
        "output_tokens": 7,
        "error": "",
        "recovered": False,
    }
    directory = journal_of(tmp_path, STARTED, v1)
    before = (directory / f"{1:020d}.jsonl").read_bytes()

    started, finished = JsonlJournal(directory, clock=lambda: 0.0).replay()

    assert isinstance(started, TurnStarted)
    assert isinstance(finished, RunFinished)
    assert finished.v == CURRENT["run_finished"] == 2
    assert finished.usage == Usage(input_tokens=120, output_tokens=7, cached_tokens=0)
    assert finished.text == "hola"
    assert (directory / f"{1:020d}.jsonl").read_bytes() == before


def test_new_appends_continue_the_chain_after_old_lines(tmp_path):
    v1 = {
        "type": "run_finished",
        "seq": 2,
        "chat": CHAT,
        "version": 2,
        "ts": 2.0,
        "v": 1,
        "turn_id": "t1",
        "status": "failed",
        "input_tokens": 1,
        "output_tokens": 0,
    }
    directory = journal_of(tmp_path, STARTED, v1)
    journal = JsonlJournal(directory, clock=lambda: 3.0)
    journal.start()
    (event,) = journal.append([TurnStarted(chat=CHAT, turn_id="t2", message_ids=[])])
    journal.close()
    assert event.seq == 3
    assert [e.seq for e in JsonlJournal(directory, clock=lambda: 0.0).replay()] == [1, 2, 3]


def test_a_line_from_a_newer_conserje_is_refused_with_advice(tmp_path):
    future = dict(STARTED, v=CURRENT["turn_started"] + 1)
    directory = journal_of(tmp_path, future, dict(STARTED, seq=2, version=2))
    with pytest.raises(JournalCorrupt, match="newer than this Conserje"):
        list(JsonlJournal(directory, clock=lambda: 0.0).replay())
