"""Durability across restarts: snapshots at boot, and a damaged journal.

Disk faults (full, failing fdatasync, read-only) are in ``tests/reliability``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conserje.testing import payloads
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess
from tests.e2e.conftest import settle
from tests.eventlog.tamper import break_chat, reseal

pytestmark = pytest.mark.e2e

GUEST = "34622333444@s.whatsapp.net"


def snapshot_after_one_turn(server: ServerProcess, whapi_fake: FakeWhapi) -> Path:
    """Answer one guest message, then restart once so boot writes a snapshot; return it."""
    server.start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "Llegamos el viernes"))
    settle(server, whapi_fake, turns=1)
    server.stop()
    server.restart()  # replays the first turn and writes a snapshot
    server.stop()
    (snapshot,) = (server.data_dir / "snapshots").glob("*.snapshot")
    return snapshot


def test_a_restart_from_a_snapshot_keeps_the_conversation(make_server, whapi_fake, openai_fake):
    server = make_server(JOURNAL_SNAPSHOT_EVENTS="1")
    assert snapshot_after_one_turn(server, whapi_fake).exists()

    server.restart()  # boots from the snapshot, with nothing after it to replay
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Y el parking?"))
    settle(server, whapi_fake, turns=2)
    server.stop()

    assert "0 events replayed after snapshot" in server.log_text()
    second_input = str(openai_fake.created()[1]["input"])
    assert "Llegamos el viernes" in second_input
    assert "echo: Llegamos el viernes" in second_input


def test_a_chat_the_snapshot_cannot_give_back_is_rebuilt_from_the_journal(
    make_server, whapi_fake, openai_fake
):
    server = make_server(JOURNAL_SNAPSHOT_EVENTS="1")
    snapshot = snapshot_after_one_turn(server, whapi_fake)
    # Sealed, so it loads; the chat's state is decoded only when the guest writes again.
    reseal(snapshot, break_chat(GUEST))

    server.restart()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Y el parking?"))
    settle(server, whapi_fake, turns=2)
    server.stop()

    assert "0 events replayed after snapshot" in server.log_text()
    (line,) = [x for x in server.log_text().splitlines() if "rebuilding it from the journal" in x]
    assert GUEST not in line
    second_input = str(openai_fake.created()[1]["input"])
    assert "Llegamos el viernes" in second_input
    assert "echo: Llegamos el viernes" in second_input
    replies = [m.body for m in whapi_fake.sent_to(GUEST)]
    assert replies == ["echo: Llegamos el viernes", "echo: ¿Y el parking?"]


def test_a_damaged_journal_stops_the_start_with_advice_and_changes_nothing(
    make_server, whapi_fake, openai_fake
):
    server = make_server().start()
    for text in ("uno", "dos"):
        whapi_fake.post_webhook(payloads.text_message(GUEST, text))
    settle(server, whapi_fake, turns=1)
    server.stop()
    (segment,) = server.journal_dir.glob("*.jsonl")
    segment.write_bytes(segment.read_bytes().replace(b'"text":"uno"', b'"text":"UNO"'))
    damaged = segment.read_bytes()

    with pytest.raises(RuntimeError, match="exited with 1"):
        server.start()
    server.process = None

    log = server.log_text()
    assert f"{segment}: line 1: hash does not match" in log
    assert "conserje log verify" in log
    assert "Traceback" not in log
    assert segment.read_bytes() == damaged
