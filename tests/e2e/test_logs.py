"""The real server's log: JSON lines for machines, masked, each turn's lines under its id."""

from __future__ import annotations

import json

from conserje.testing import payloads
from tests.e2e.conftest import WHAPI_TOKEN, settle

GUEST = "34611222333@s.whatsapp.net"


def test_json_logs_are_one_masked_object_per_line_and_carry_the_turn(
    make_server, whapi_fake, openai_fake
):
    openai_fake.fail_next_run("server_error", "the model is down")
    with make_server(LOG_FORMAT="json", LOG_LEVEL="DEBUG") as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "hola"))
        settle(server, whapi_fake, turns=1)
        server.stop()
    text = server.log_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    (turn,) = server.events("turn_started")
    traced = [e["message"] for e in entries if e.get("turn") == turn["turn_id"]]
    assert any("POST" in m for m in traced), "the model call is logged under the turn"
    assert any("finished: fallback" in m and "the model is down" in m for m in traced)
    assert "611222333" not in text
    assert "sk-test" not in text
    assert WHAPI_TOKEN not in text


def test_text_logs_name_the_turn_on_its_lines(make_server, whapi_fake, openai_fake):
    openai_fake.fail_next_run("server_error", "the model is down")
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "hola"))
        settle(server, whapi_fake, turns=1)
        (turn,) = server.events("turn_started")
        (line,) = [line for line in server.log_text().splitlines() if "finished: fallback" in line]
    assert f": [turn {turn['turn_id']}] chat 346****33@s.whatsapp.net: turn " in line
    assert "611222333" not in server.log_text()
