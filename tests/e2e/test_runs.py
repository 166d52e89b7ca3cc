"""Model runs under trouble: refusals, crashes mid-run, and the global cap."""

from __future__ import annotations

import pytest

from conserje.testing import payloads
from conserje.testing._server import Fault, json_response
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34644555666@s.whatsapp.net"
OTHER = "34644555777@s.whatsapp.net"


def refusal(status: int, headers: dict | None = None):
    body = {"error": {"message": "try later", "type": "server_error", "param": None, "code": None}}
    return json_response(status, body, headers or {})


def test_a_429_on_create_is_retried_after_retry_after_without_losing_the_turn(
    make_server, whapi_fake, openai_fake
):
    openai_fake.inject(
        Fault("POST", "/v1/responses", response=refusal(429, {"retry-after-ms": "50"}))
    )
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay plancha?"))
        settle(server, whapi_fake, turns=1)

        assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay plancha?"]
        (retried,) = server.events("run_retried")
        assert (retried["attempt"], retried["ambiguous"]) == (1, False)
        assert len(openai_fake.created()) == 1


def test_server_errors_on_create_are_retried_and_journaled_as_ambiguous(
    make_server, whapi_fake, openai_fake
):
    openai_fake.inject(Fault("POST", "/v1/responses", response=refusal(500), times=2))
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay secador?"))
        settle(server, whapi_fake, turns=1)

        assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay secador?"]
        assert [(e["attempt"], e["ambiguous"]) for e in server.events("run_retried")] == [
            (1, True),
            (2, True),
        ]


def test_a_create_that_keeps_failing_ends_in_the_fallback(make_server, whapi_fake, openai_fake):
    openai_fake.inject(Fault("POST", "/v1/responses", response=refusal(503), times=10))
    with make_server(FALLBACK_MESSAGE="Perdona, vuelvo enseguida.") as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hola?"))
        settle(server, whapi_fake, turns=1)
        assert [m.body for m in whapi_fake.sent] == ["Perdona, vuelvo enseguida."]
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "fallback"
        assert "after 4 attempts" in turn["error"]


def test_orphan_policy_cancel_cancels_the_interrupted_run_and_answers_once(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    server = make_server(ORPHAN_RUN_POLICY="cancel").start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Check-out a las 12?"))
    wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="the run is polled")
    server.kill()
    orphan = openai_fake.response_ids()[0]

    server.restart()
    wait_for(lambda: server.events("run_recovered"), what="the orphan is dealt with")
    openai_fake.release()
    settle(server, whapi_fake, turns=1)
    server.stop()

    (recovered,) = server.events("run_recovered")
    assert (recovered["response_id"], recovered["outcome"]) == (orphan, "cancelled")
    assert openai_fake.status_of(orphan) == "cancelled"
    assert openai_fake.running() == []
    assert len(openai_fake.created()) == 2
    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Check-out a las 12?"]


def test_orphan_policy_adopt_keeps_polling_the_interrupted_run(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    server = make_server().start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Cuna para bebé?"))
    wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="the run is polled")
    server.kill()

    server.restart()
    wait_for(lambda: server.events("run_recovered"), what="the run is adopted")
    openai_fake.release()
    settle(server, whapi_fake, turns=1)
    server.stop()

    (recovered,) = server.events("run_recovered")
    assert recovered["outcome"] == "adopted"
    assert len(openai_fake.created()) == 1
    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Cuna para bebé?"]


def test_the_global_cap_lets_one_run_at_a_time(make_server, whapi_fake, openai_fake):
    openai_fake.hold = True
    with make_server(OPENAI_MAX_CONCURRENCY="1") as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "uno"))
        whapi_fake.post_webhook(payloads.text_message(OTHER, "dos"))
        wait_for(
            lambda: len(openai_fake.requests("GET", "/v1/responses/")) >= 4,
            what="the first run is polled several times",
        )
        assert len(openai_fake.created()) == 1
        assert server.get("/locks").json()["activeLocks"] == 2
        openai_fake.release()
        settle(server, whapi_fake, turns=2)
        assert sorted(m.body for m in whapi_fake.sent) == ["echo: dos", "echo: uno"]


def test_failing_polls_are_ridden_out_within_the_run_deadline(make_server, whapi_fake, openai_fake):
    openai_fake.inject(Fault("GET", "/v1/responses/", response=refusal(502), times=4))
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay ascensor?"))
        settle(server, whapi_fake, turns=1)
        assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay ascensor?"]
        assert server.events("turn_finished")[-1]["outcome"] == "replied"
        assert "polling on" in server.log_text()
