"""The real server's log: JSON lines for machines, masked, each turn's lines under its id."""

from __future__ import annotations

import json
import re
import time

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.e2e.conftest import WHAPI_TOKEN, queue_burst, settle

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


QUEUE_DEPTH = "waitress.queue: Task queue depth is"


def queue_warnings(server) -> tuple[list[str], list[str]]:
    """Waitress's queue warnings in the server's log and on the dashboard."""
    logged = [line for line in server.log_text().splitlines() if QUEUE_DEPTH in line]
    problems = server.get("/dashboard/stats").json()["problems"]
    shown = [p["message"] for p in problems if p["logger"] == "waitress.queue"]
    return logged, shown


def test_a_burst_of_queued_requests_is_one_warning_in_the_log_and_on_the_dashboard(
    make_server,
):
    # Waitress warns once per request that waits for a thread: hundreds in a burst.
    with make_server(LOG_LEVEL="WARNING", LOG_REPEAT_WINDOW_MS="1500") as server:

        def burst_until(lines: int) -> tuple[list[str], list[str]]:
            def seen() -> tuple[list[str], list[str]] | None:
                queue_burst(server.port)
                found = queue_warnings(server)
                return found if len(found[1]) >= lines else None

            return wait_for(seen, timeout=60, interval=0, what=f"{lines} queue warnings")

        logged, shown = burst_until(1)
        assert len(logged) == len(shown) == 1
        assert shown[0].startswith("Task queue depth is ")

        # The next one after the window says how many the first held back.
        time.sleep(1.6)
        logged, shown = burst_until(2)
        assert len(logged) == len(shown) == 2
        held_back = re.fullmatch(
            r"Task queue depth is \d+ \(and (\d+) more like it, suppressed\)", shown[1]
        )
        assert held_back is not None, shown
        assert int(held_back.group(1)) >= 1
        assert logged[1].endswith(shown[1])
