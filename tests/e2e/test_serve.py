"""End to end: the real `conserje serve` process, the real SDK, fake Whapi and OpenAI."""

from __future__ import annotations

import httpx2
import msgspec
import pytest

from conserje.eventlog.codec import GENESIS, seal
from conserje.eventlog.events import MessageReceived, TurnFinished, TurnStarted
from conserje.testing import payloads
from conserje.testing._server import Fault
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34600111222@s.whatsapp.net"


def test_one_message_gets_one_reply(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        status = whapi_fake.post_webhook(
            payloads.text_message(GUEST, "Hola, ¿hay sitio?", name="Ana")
        )
        assert status == 200
        settle(server, whapi_fake, turns=1)

        assert [(m.chat_id, m.body) for m in whapi_fake.sent] == [
            (GUEST, "echo: Hola, ¿hay sitio?")
        ]
        (sent,) = server.events("reply_sent")
        assert sent["whapi_id"] == whapi_fake.sent[0].id
        (create,) = openai_fake.created()
        assert create["background"] is True
        assert "Ana" in str(create["input"])


def test_three_quick_messages_get_one_reply(make_server, whapi_fake, openai_fake):
    with make_server(BUFFER_WINDOW_MS="800") as server:
        for text in ("Hola", "quería saber", "si hay sitio el viernes"):
            assert whapi_fake.post_webhook(payloads.text_message(GUEST, text)) == 200
        settle(server, whapi_fake, turns=1)

        assert [m.body for m in whapi_fake.sent] == [
            "echo: Hola\nquería saber\nsi hay sitio el viernes"
        ]
        assert len(openai_fake.created()) == 1
        (turn,) = server.events("turn_started")
        assert len(turn["message_ids"]) == 3


def test_a_duplicate_delivery_gets_no_second_reply(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        payload = payloads.text_message(GUEST, "¿Tenéis parking?")
        assert whapi_fake.post_webhook(payload) == 200
        settle(server, whapi_fake, turns=1)
        answer = server.post("/hook", json=payload)

        assert answer.status_code == 200
        assert answer.json()["duplicates"] == 1
        assert len(server.events("message_received")) == 1
        assert len(whapi_fake.sent) == 1
        assert len(openai_fake.created()) == 1


def test_the_echo_of_our_reply_triggers_nothing(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Gracias"))
        settle(server, whapi_fake, turns=1)

        (echo, status) = whapi_fake.webhook_deliveries[0]
        assert status == 200
        assert echo["messages"][0]["id"] == whapi_fake.sent[0].id
        assert echo["messages"][0]["from_me"] is True
        assert len(server.events("message_received")) == 1
        assert len(openai_fake.created()) == 1
        assert len(whapi_fake.sent) == 1


def test_kill_after_the_200_and_before_the_reply_gives_exactly_one_reply(
    make_server, whapi_fake, openai_fake
):
    server = make_server(BUFFER_WINDOW_MS="1500").start()
    assert (
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿A qué hora es el check-in?")) == 200
    )
    server.kill()
    assert whapi_fake.sent == []
    assert [e["type"] for e in server.journal()] == ["message_received"]

    server.restart()
    settle(server, whapi_fake, turns=1)
    server.stop()

    assert [m.body for m in whapi_fake.sent] == ["echo: ¿A qué hora es el check-in?"]
    assert len(openai_fake.created()) == 1


def test_kill_during_a_background_run_delivers_that_run_without_a_second(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    server = make_server().start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Admitís mascotas?"))
    wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="the run is polled")
    assert server.events("run_started")
    server.kill()
    openai_fake.release()

    server.restart()
    settle(server, whapi_fake, turns=1)
    server.stop()

    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Admitís mascotas?"]
    assert len(openai_fake.created()) == 1
    (finished,) = server.events("run_finished")
    assert finished["recovered"] is True
    assert finished["response_id"] == openai_fake.response_ids()[0]


@pytest.mark.parametrize(
    "quick", [False, True], ids=["restart after the send landed", "restart before it landed"]
)
def test_kill_during_the_whapi_send_is_reconciled_not_duplicated(
    make_server, whapi_fake, openai_fake, quick
):
    # The quick restart was found by the crash campaign: the restart looked at Whapi's
    # list before the slow send had landed there, and sent the chunk a second time.
    whapi_fake.inject(Fault("POST", "/messages/text", delay=1.5))
    server = make_server(WHAPI_TIMEOUT_MS="3000").start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay wifi?"))
    wait_for(lambda: whapi_fake.requests("POST", "/messages/text"), what="the send has begun")
    server.kill()
    assert server.events("reply_sending")
    assert not server.events("reply_sent")
    if quick:
        assert whapi_fake.sent == []
    else:
        wait_for(lambda: whapi_fake.sent, what="Whapi finished the send the server never saw")

    server.restart()
    settle(server, whapi_fake, turns=1)
    server.stop()

    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Hay wifi?"]
    (sent,) = server.events("reply_sent")
    assert sent["reconciled"] is True
    assert sent["whapi_id"] == whapi_fake.sent[0].id


def test_a_send_whose_connection_dropped_is_looked_for_then_sent_once(
    make_server, whapi_fake, openai_fake
):
    # It used to end the turn as failed: the guest never got the reply.
    whapi_fake.inject(Fault("POST", "/messages/text", drop=True))
    with make_server(WHAPI_TIMEOUT_MS="500") as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Dónde dejo la llave?"))
        settle(server, whapi_fake, turns=1)

        assert [m.body for m in whapi_fake.sent] == ["echo: ¿Dónde dejo la llave?"]
        assert whapi_fake.requests("GET", "/messages/list/"), "it looked before resending"
        (sent,) = server.events("reply_sent")
        assert sent["reconciled"] is False
        assert server.events("turn_finished")[-1]["outcome"] == "replied"


def test_a_kill_after_a_failed_send_leaves_the_turn_finished_and_sends_nothing(
    make_server, whapi_fake, openai_fake
):
    whapi_fake.authorised = False
    server = make_server().start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Dónde dejo la llave?"))
    wait_for(lambda: server.events("turn_finished"), what="the failed send is journaled")
    server.kill()
    whapi_fake.authorised = True

    server.restart()
    server.stop()
    (finished,) = server.events("turn_finished")
    assert finished["outcome"] == "failed"
    assert "not authorised" in finished["error"]
    assert whapi_fake.sent == []


def test_messages_arriving_during_a_turn_are_answered_by_the_next_turn(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "primera"))
        wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="first run polled")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "segunda"))
        openai_fake.release()
        settle(server, whapi_fake, turns=2)

        assert [m.body for m in whapi_fake.sent] == ["echo: primera", "echo: segunda"]
        second_input = str(openai_fake.created()[1]["input"])
        assert "primera" in second_input
        assert "echo: primera" in second_input


def test_non_json_is_400_and_journals_nothing(make_server):
    with make_server() as server:
        answer = server.post(
            "/hook", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert server.journal() == []


def test_payloads_that_need_no_action_get_200(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        for payload in (
            payloads.presence("34600111222", "typing"),
            payloads.status_update("abcdEFGH-ijklMNOP", "read", GUEST, 4),
            payloads.group_text_message("120363000000000001@g.us", "34600111222", "hola grupo"),
            {"something": "unknown"},
        ):
            assert server.post("/hook", json=payload).status_code == 200
        assert server.journal() == []
        assert openai_fake.created() == []


def test_oversized_webhook_is_413(make_server):
    with make_server(WEBHOOK_MAX_BYTES="2048") as server:
        answer = server.post("/hook", content=b"x" * 5000)
        assert answer.status_code == 413


def test_webhook_token_is_required_when_set(make_server, whapi_fake):
    with make_server(WEBHOOK_TOKEN="s3cret") as server:
        payload = payloads.text_message(GUEST, "hola")
        assert server.post("/hook", json=payload).status_code == 401
        assert (
            server.post("/hook", json=payload, headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        assert server.post("/hook/nope", json=payload).status_code == 401
        assert server.journal() == []
        assert (
            server.post(
                "/hook", json=payload, headers={"Authorization": "Bearer s3cret"}
            ).status_code
            == 200
        )
        other = payloads.text_message(GUEST, "otra")
        assert server.post("/hook/s3cret", json=other).status_code == 200
        assert len(server.events("message_received")) == 2


def test_sigterm_exits_zero_and_health_answers(make_server):
    server = make_server().start()
    health = server.get("/health").json()
    assert health["status"] == "ok"
    assert health["phase"] == "ready"
    assert server.get("/").json()["service"] == "conserje"
    assert server.stop() == 0


def test_a_redelivery_after_a_restart_is_still_a_duplicate(make_server, whapi_fake, openai_fake):
    server = make_server().start()
    payload = payloads.text_message(GUEST, "¿Hay toallas?")
    whapi_fake.post_webhook(payload)
    settle(server, whapi_fake, turns=1)
    server.stop()

    server.restart()
    answer = server.post("/hook", json=payload)
    server.stop()

    assert answer.json()["duplicates"] == 1
    assert len(server.events("message_received")) == 1
    assert len(whapi_fake.sent) == 1


def write_history(directory, chats: int, turns_per_chat: int) -> int:
    """Write a long, finished history straight into a journal directory; return its length."""
    seq, h = 0, GENESIS
    directory.mkdir(parents=True)
    with (directory / f"{1:020d}.jsonl").open("wb") as f:
        for turn in range(turns_per_chat):
            for c in range(chats):
                chat = f"3460000{c:04d}@s.whatsapp.net"
                base = turn * 3
                steps = [
                    MessageReceived(chat=chat, message_id=f"h{c}-{turn}", text="hola"),
                    TurnStarted(chat=chat, turn_id=f"t{c}-{turn}", message_ids=[f"h{c}-{turn}"]),
                    TurnFinished(chat=chat, turn_id=f"t{c}-{turn}", outcome="failed"),
                ]
                for n, step in enumerate(steps, start=1):
                    seq += 1
                    stamped = msgspec.structs.replace(step, seq=seq, version=base + n, ts=1.0)
                    line, h = seal(stamped, h)
                    f.write(line)
    return seq


def test_health_answers_during_replay_and_webhooks_wait_for_it(make_server, whapi_fake, tmp_path):
    server = make_server()
    events = write_history(server.journal_dir, chats=20, turns_per_chat=5000)

    server.start(wait=False)
    phases = [wait_for(lambda: _health_phase(server), timeout=20, what="health answers")]
    status = whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Seguís ahí?"))
    wait_for(lambda: server.get("/ready").status_code == 200, timeout=60, what="ready")
    settle(server, whapi_fake, turns=events // 3 + 1)
    server.stop()

    assert phases[0] in ("starting", "replaying")
    assert status == 200
    assert [m.body for m in whapi_fake.sent] == ["echo: ¿Seguís ahí?"]
    (received,) = [e for e in server.events("message_received") if e["chat"] == GUEST]
    assert received["seq"] == events + 1


def _health_phase(server) -> str | None:
    try:
        answer = server.get("/health")
    except httpx2.HTTPError:
        return None
    return answer.json()["phase"] if answer.status_code == 200 else None
