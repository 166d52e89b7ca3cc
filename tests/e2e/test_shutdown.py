"""Stopping the real server: webhooks refused, work finished or left to boot, exit codes."""

from __future__ import annotations

import signal

import pytest

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34611222333@s.whatsapp.net"


def start_a_turn_that_hangs(server, whapi_fake, openai_fake):
    """Start ``server`` with a model run that does not end until the fake is released."""
    openai_fake.hold = True
    server.start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay sitio?"))
    wait_for(openai_fake.created, what="the run started")


def test_a_stop_during_a_hanging_turn_exits_within_the_budget_and_boot_finishes_it(
    make_server, whapi_fake, openai_fake
):
    server = make_server(SHUTDOWN_TIMEOUT_MS="1000")
    start_a_turn_that_hangs(server, whapi_fake, openai_fake)

    # The run would hang for minutes; the budget ends the wait (or SIGKILL would, -9).
    assert server.stop(timeout=20) == 0
    log = server.log_text()
    assert "SIGTERM received: refusing webhooks, stopping within 1.0 s" in log
    assert "1 chat actor(s) did not stop within 1.0 s; boot will resume their work" in log
    assert server.events("turn_finished") == []

    openai_fake.release()
    server.restart()
    settle(server, whapi_fake, turns=1)
    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay sitio?"]
    assert len(openai_fake.created()) == 1
    assert server.stop() == 0


def test_webhooks_get_503_while_the_server_finishes_its_work(make_server, whapi_fake, openai_fake):
    server = make_server(SHUTDOWN_TIMEOUT_MS="30000")
    start_a_turn_that_hangs(server, whapi_fake, openai_fake)

    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: server.get("/health").json()["phase"] == "stopping", what="stopping")
    late = server.post("/hook", json=payloads.text_message(GUEST, "¿Y parking?"))
    assert late.status_code == 503
    assert server.get("/ready").status_code == 503

    openai_fake.release()
    assert server.process.wait(timeout=20) == 0
    server.process = None
    # The turn in flight finished before the exit; the refused message was not kept.
    assert [e["outcome"] for e in server.events("turn_finished")] == ["replied"]
    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay sitio?"]
    assert [e["text"] for e in server.events("message_received")] == ["¿Hay sitio?"]


@pytest.mark.parametrize(("second", "code"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)])
def test_a_second_signal_exits_at_once(make_server, whapi_fake, openai_fake, second, code):
    server = make_server(SHUTDOWN_TIMEOUT_MS="60000")
    start_a_turn_that_hangs(server, whapi_fake, openai_fake)

    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: server.get("/health").json()["phase"] == "stopping", what="stopping")
    server.process.send_signal(second)
    # Well before the 60 s budget, and without the run ever ending.
    assert server.process.wait(timeout=20) == code
    server.process = None
    assert f"{second.name} received again: exiting at once" in server.log_text()
    openai_fake.release()
