"""End to end: the real server writes a turn, and `conserje log` tells it back as a story."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conserje.testing import payloads
from tests.audit.conftest import run_log
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34600555666@s.whatsapp.net"


def test_the_journal_of_a_real_turn_reads_like_its_story(make_server, whapi_fake, openai_fake):
    with make_server(BUFFER_WINDOW_MS="50") as server:
        assert (
            whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay sitio el viernes?")) == 200
        )
        settle(server, whapi_fake, turns=1)
    journal = server.journal()
    data_dir = str(server.data_dir)
    (sent,) = whapi_fake.sent

    story = run_log("show", "--data-dir", data_dir, "--chat", GUEST)
    as_json = run_log("show", "--data-dir", data_dir, "--json")
    received = run_log("show", "--data-dir", data_dir, "--type", "message_received")
    stats = run_log("stats", "--data-dir", data_dir, "--json")
    verify = run_log("verify", "--data-dir", data_dir)

    assert story.returncode == 0, story.stderr
    text = story.stdout
    beats = [
        '"¿Hay sitio el viernes?"',
        "turn ",
        "run ",
        "run finished: completed",
        'reply chunk 1 sending: "echo: ¿Hay sitio el viernes?"',
        f"reply chunk 1 sent as {sent.id}",
        "finished: replied",
    ]
    positions = [text.find(beat) for beat in beats]
    assert -1 not in positions, (beats, text)
    assert positions == sorted(positions), text
    assert GUEST in text

    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(lines) == len(journal)
    assert [e["seq"] for e in lines] == [e["seq"] for e in journal]
    assert all("h" not in e for e in lines)

    (only,) = received.stdout.splitlines()
    assert "¿Hay sitio el viernes?" in only
    assert "  346****66@s.whatsapp.net  guest  " in only  # masked: no --chat was given

    numbers = json.loads(stats.stdout)
    counts = Counter(e["type"] for e in journal)
    assert numbers["events"] == len(journal)
    assert {k: v for k, v in numbers["by_type"].items() if v} == dict(counts)
    assert numbers["turns"] == {"replied": 1}
    assert numbers["replies_sent"] == counts["reply_sent"] == 1
    assert numbers["chats"] == 1

    assert verify.returncode == 0, verify.stdout
