"""`conserje log trace` on a real server's journal: where a slow turn spent its time."""

from __future__ import annotations

import json
import time

import pytest

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.audit.conftest import run_log
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34600555666@s.whatsapp.net"
TOOL_SECONDS = 1.5
"""How long the test keeps the tool busy, to make the tool the slow part of a turn."""


def test_a_trace_shows_where_a_slow_turn_spent_its_time(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, marks = tool_plugin
    hold = marks.with_suffix(".hold")
    hold.touch()
    openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "Mar", "nights": 3})
    with make_server(**env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Cuánto cuestan 3 noches?"))
        wait_for(marks.exists, what="the tool started")
        time.sleep(TOOL_SECONDS)  # the slow tool this test is about, not a synchronisation
        hold.unlink()
        settle(server, whapi_fake, turns=1)
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Gracias"))
        settle(server, whapi_fake, turns=2)
        slow_id, fast_id = (e["turn_id"] for e in server.events("turn_started"))
        log_text = server.log_text()
    data_dir = str(server.data_dir)

    slowest = run_log("trace", "--data-dir", data_dir, "--chat", GUEST, "--slowest", "--json")
    assert slowest.returncode == 0, slowest.stderr
    trace = json.loads(slowest.stdout)
    assert trace["turnId"] == slow_id
    assert trace["outcome"] == "replied"
    assert [s["type"] for s in trace["stages"]] == [
        "message_received",
        "turn_started",
        "run_started",
        "run_finished",
        "tool_called",
        "tool_finished",
        "run_started",
        "run_finished",
        "reply_sending",
        "reply_sent",
        "turn_finished",
    ]
    spent = trace["spent"]
    assert spent["tools"] >= TOOL_SECONDS
    assert max(spent, key=spent.get) == "tools"
    assert trace["seconds"] >= spent["tools"] + spent["buffer"]
    assert spent["buffer"] >= 0.3  # BUFFER_WINDOW_MS in the e2e settings
    since = [s["sinceStart"] for s in trace["stages"]]
    assert since == sorted(since)
    assert since[0] == 0

    latest = run_log("trace", "--data-dir", data_dir, "--chat", GUEST, "--json")
    assert json.loads(latest.stdout)["turnId"] == fast_id

    by_id = run_log("trace", "--data-dir", data_dir, slow_id)
    assert by_id.returncode == 0, by_id.stderr
    text = by_id.stdout
    assert text.startswith(f"turn {slow_id} in 346****66@s.whatsapp.net: replied ")
    assert "where the time went:" in text
    assert "before tool_finished" in text.splitlines()[-1]
    assert '"¿Cuánto cuestan 3 noches?"' in text
    # The same id finds the turn's lines in the server's log.
    assert f"[turn {slow_id}]" in log_text


def test_trace_says_clearly_what_it_needs_and_what_it_did_not_find(make_server, whapi_fake):
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "hola"))
        settle(server, whapi_fake, turns=1)
    data_dir = str(server.data_dir)

    neither = run_log("trace", "--data-dir", data_dir)
    assert neither.returncode == 2
    assert "name a turn id, or a chat with --chat" in neither.stderr
    missing = run_log("trace", "--data-dir", data_dir, "0000000000000000")
    assert missing.returncode == 1
    assert "no turn 0000000000000000" in missing.stderr
    assert run_log("trace", "--data-dir", data_dir, "--chat", "34999").returncode == 1
