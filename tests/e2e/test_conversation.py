"""The conversation engine end to end: tools, hand-offs, human agents, failures."""

from __future__ import annotations

import json

import pytest

from conserje.testing import payloads
from conserje.testing._server import Fault, json_response
from conserje.testing.fake_compaction import compacted_texts
from conserje.testing.wait import wait_for
from tests.e2e.conftest import COMPACTING, settle, talk_past_the_threshold
from tests.installed_tools import installed_tool_names

pytestmark = pytest.mark.e2e

GUEST = "34633444555@s.whatsapp.net"
STAFF = "34699000111@s.whatsapp.net"


def executions(marks) -> list[str]:
    return marks.read_text(encoding="utf-8").split() if marks.exists() else []


def test_a_tool_result_reaches_the_reply(make_server, whapi_fake, openai_fake, tool_plugin):
    env, marks = tool_plugin
    openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "Mar", "nights": 3})
    with make_server(**env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Cuánto cuestan 3 noches?"))
        settle(server, whapi_fake, turns=1)

        (reply,) = whapi_fake.sent
        assert '"total_eur":285' in reply.body
        assert [e["type"] for e in server.journal() if e["type"].startswith("tool")] == [
            "tool_called",
            "tool_finished",
        ]
        (finished,) = server.events("tool_finished")
        assert finished["ok"] is True
        assert executions(marks) == ["Mar"]
        assert len(openai_fake.created()) == 2
        offered = {t["name"] for t in openai_fake.created()[0]["tools"]}
        assert offered == {"quote_stay", "escalate_to_human", *installed_tool_names()}


def test_a_failing_tool_gives_the_model_an_error_and_the_turn_goes_on(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, _ = tool_plugin
    openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "broken", "nights": 1})
    with make_server(**env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Precio?"))
        settle(server, whapi_fake, turns=1)

        (finished,) = server.events("tool_finished")
        assert (finished["ok"], finished["error"]) == (False, "tool_failed")
        assert "the booking system is down" in finished["output"]
        assert "Traceback" not in finished["output"]
        (reply,) = whapi_fake.sent
        assert "tool_failed" in reply.body
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"


def test_a_crash_between_a_tool_call_and_its_result_never_runs_it_twice(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, marks = tool_plugin
    hold = marks.with_suffix(".hold")
    hold.touch()
    openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "Sol", "nights": 2})
    server = make_server(**env).start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "Dos noches en Sol"))
    wait_for(lambda: executions(marks), what="the tool is running")
    assert server.events("tool_called")
    server.kill()

    server.restart()
    settle(server, whapi_fake, turns=1)
    server.stop()
    hold.unlink()

    assert executions(marks) == ["Sol"]
    (finished,) = server.events("tool_finished")
    assert finished["error"] == "interrupted"
    (reply,) = whapi_fake.sent
    assert "interrupted" in reply.body


def test_a_slow_tool_sends_its_interim_message_first(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, marks = tool_plugin
    hold = marks.with_suffix(".hold")
    hold.touch()
    openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "Luna", "nights": 1})
    with make_server(TOOL_INTERIM_AFTER_MS="200", **env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Luna una noche?"))
        wait_for(lambda: server.events("interim_sent"), what="the interim message")
        hold.unlink()
        settle(server, whapi_fake, turns=1)

        bodies = [m.body for m in whapi_fake.sent]
        assert bodies[0] == "Un momento, lo consulto..."
        assert '"total_eur":95' in bodies[1]
        assert len(bodies) == 2


def test_escalation_notifies_staff_and_pauses_until_resumed(make_server, whapi_fake, openai_fake):
    openai_fake.call_tool_on_first_request(
        "escalate_to_human",
        {
            "reason": "quiere hablar con una persona",
            "summary": "Reserva de agosto",
            "urgency": "high",
        },
    )
    with make_server(STAFF_CHAT_ID=STAFF) as server:
        whapi_fake.post_webhook(
            payloads.text_message(GUEST, "Quiero hablar con alguien", name="Marta")
        )
        settle(server, whapi_fake, turns=1)
        openai_fake.tool_calls = None

        (note,) = whapi_fake.sent_to(STAFF)
        assert "quiere hablar con una persona" in note.body
        assert "Marta" in note.body
        assert "[high]" in note.body
        (handoff,) = server.events("handoff_started")
        assert handoff["by"] == "assistant"
        assert len(whapi_fake.sent_to(GUEST)) == 1

        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hola?"))
        settle(server, whapi_fake, turns=2)
        assert server.events("turn_finished")[-1]["outcome"] == "paused"
        assert len(whapi_fake.sent_to(GUEST)) == 1

        assert server.post(f"/chats/{GUEST}/resume").status_code == 200
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Seguís ahí?"))
        settle(server, whapi_fake, turns=3)
        assert whapi_fake.sent_to(GUEST)[-1].body == "echo: ¿Seguís ahí?"


def test_a_person_writing_from_the_business_phone_pauses_the_assistant(
    make_server, whapi_fake, openai_fake
):
    with make_server() as server:
        agent = payloads.text_message(GUEST, "Hola, soy Carmen, te ayudo yo", from_me=True)
        assert server.post("/hook", json=agent).status_code == 200
        wait_for(lambda: server.events("handoff_started"), what="the agent's hand-off")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Gracias Carmen"))
        settle(server, whapi_fake, turns=1)
        assert server.events("turn_finished")[-1]["outcome"] == "paused"
        assert whapi_fake.sent == []

        server.post(f"/chats/{GUEST}/resume")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿A qué hora llegáis?"))
        settle(server, whapi_fake, turns=2)
        model_input = json.dumps(openai_fake.created()[-1]["input"], ensure_ascii=False)
        assert "Hola, soy Carmen, te ayudo yo" in model_input
        assert "Gracias Carmen" in model_input


def test_a_failed_model_gets_one_apology_never_two_in_a_row(make_server, whapi_fake, openai_fake):
    with make_server(FALLBACK_MESSAGE="Perdona, ahora no puedo responder.") as server:
        openai_fake.fail_next_run("server_error", "the model is down")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hola?"))
        settle(server, whapi_fake, turns=1)
        openai_fake.fail_next_run("server_error", "still down")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay alguien?"))
        settle(server, whapi_fake, turns=2)

        assert [m.body for m in whapi_fake.sent] == ["Perdona, ahora no puedo responder."]
        assert [e["outcome"] for e in server.events("turn_finished")] == ["fallback", "failed"]


def test_admin_endpoints_need_the_admin_token_when_one_is_set(make_server):
    with make_server(ADMIN_TOKEN="adm1n") as server:
        path = f"/chats/{GUEST}/pause"
        assert server.post(path).status_code == 401
        assert server.post(path, headers={"Authorization": "Bearer adm1"}).status_code == 401
        assert server.post(path, headers={"Authorization": "Bearer adm1n-"}).status_code == 401
        assert server.journal() == []
        ok = server.post(path, json={"minutes": 5}, headers={"Authorization": "Bearer adm1n"})
        assert ok.status_code == 200
        (paused,) = server.events("handoff_started")
        assert paused["by"] == "admin"


def test_typing_holds_the_turn_and_presence_is_subscribed_once(
    make_server, whapi_fake, openai_fake
):
    number = GUEST.partition("@")[0]
    with make_server(BUFFER_WINDOW_MS="300", TYPING_EXTENDED_MS="1500") as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "seria"))
        whapi_fake.post_webhook(payloads.presence(number, "typing"))
        wait_for(lambda: server.events("turn_held"), what="the burst is held")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "del 1 al 5 de diciembre"))
        settle(server, whapi_fake, turns=1)

        assert [m.body for m in whapi_fake.sent] == ["echo: seria\ndel 1 al 5 de diciembre"]
        assert whapi_fake.subscriptions == {number}
        assert len(server.events("presence_subscribed")) == 1
        assert (GUEST, "typing") in whapi_fake.presences_set

        server.stop()
        server.restart()
        whapi_fake.post_webhook(payloads.text_message(GUEST, "gracias"))
        settle(server, whapi_fake, turns=2)
        assert len(whapi_fake.requests("POST", "/presences/")) == 1


def test_history_over_the_threshold_is_compacted_by_the_server_where_it_can(
    make_server, whapi_fake, openai_fake
):
    with make_server(**COMPACTING) as server:
        talk_past_the_threshold(server, whapi_fake, GUEST)
        server.stop()
        server.restart()
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Y el wifi?"))
        settle(server, whapi_fake, turns=4)

        compactions = server.events("thread_compacted")
        assert compactions
        assert {c["method"] for c in compactions} == {"server"}
        assert compactions[0]["summary"] == ""
        assert [i["type"] for i in compactions[0]["items"]][-1] == "compaction"
        assert len(openai_fake.compactions()) == len(compactions)
        # After a restart the next run still carries what the server compacted.
        last_input = [b for b in openai_fake.created() if b.get("background")][-1]["input"]
        latest = compactions[-1]["items"]
        assert last_input[: len(latest)] == latest
        assert any("Somos cuatro adultos" in t for t in compacted_texts(last_input))
        assert last_input[-1]["content"] == "¿Y el wifi?"
        assert not [b for b in openai_fake.created() if "memory" in b.get("instructions", "")]


@pytest.mark.parametrize(
    ("server_compacts", "method"), [(False, "auto"), (True, "summary")], ids=["no-endpoint", "set"]
)
def test_history_is_compacted_into_a_readable_summary_without_the_server(
    make_server, whapi_fake, openai_fake, server_compacts, method
):
    openai_fake.compacts = server_compacts
    with make_server(**COMPACTING, COMPACTION_METHOD=method) as server:
        talk_past_the_threshold(server, whapi_fake, GUEST)

        compactions = server.events("thread_compacted")
        assert compactions
        assert compactions[0]["reason"] == "threshold"
        assert "Somos cuatro adultos" in compactions[0]["summary"]
        turns = [b for b in openai_fake.created() if b.get("background")]
        last_input = json.dumps(turns[-1]["input"], ensure_ascii=False)
        assert "Summary of the conversation" in last_input
        summary_requests = [
            b for b in openai_fake.created() if "memory" in b.get("instructions", "")
        ]
        assert len(summary_requests) == len(compactions)
        assert {c["method"] for c in compactions} == {"summary"}
        assert openai_fake.compactions() == []


def test_context_length_exceeded_compacts_and_retries_once(make_server, whapi_fake, openai_fake):
    too_long = {
        "error": {
            "message": "Your input exceeds the context window of this model.",
            "type": "invalid_request_error",
            "param": "input",
            "code": "context_length_exceeded",
        }
    }
    with make_server(THREAD_TOKEN_THRESHOLD="0", HISTORIAL_SUMMARY_THRESHOLD="100") as server:
        padding = " (te lo explico con calma para que quede todo bien anotado)" * 2
        for text in ("Reservé el ático", "Para el puente de diciembre"):
            whapi_fake.post_webhook(payloads.text_message(GUEST, text + padding))
        settle(server, whapi_fake, turns=1)
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Y otra cosa más" + padding))
        settle(server, whapi_fake, turns=2)
        openai_fake.inject(Fault("POST", "/v1/responses", response=json_response(400, too_long)))
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Me confirmas la reserva?"))
        settle(server, whapi_fake, turns=3)

        (compaction,) = server.events("thread_compacted")
        assert compaction["reason"] == "context_length_exceeded"
        assert whapi_fake.sent[-1].body == "echo: ¿Me confirmas la reserva?"
        assert server.events("turn_finished")[-1]["outcome"] == "replied"


def test_an_admin_reset_starts_the_context_afresh(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Mi nombre es Pilar"))
        settle(server, whapi_fake, turns=1)
        assert server.post(f"/chats/{GUEST}/reset").status_code == 200
        wait_for(lambda: server.events("context_reset"), what="the reset is journaled")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Cómo me llamo?"))
        settle(server, whapi_fake, turns=2)

        last_input = json.dumps(openai_fake.created()[-1]["input"], ensure_ascii=False)
        assert "Mi nombre es Pilar" not in last_input
        assert "Mi nombre es Pilar" in json.dumps(server.journal(), ensure_ascii=False)


def test_a_guest_quoting_the_bot_gets_one_answer_in_context(make_server, whapi_fake, openai_fake):
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Tenéis el ático libre?"))
        settle(server, whapi_fake, turns=1)
        ours = whapi_fake.sent[0]
        quoting = payloads.text_message(
            GUEST,
            "Sí, ese mismo",
            context={
                "quoted_id": ours.id,
                "quoted_author": "15550001111",
                "quoted_type": "text",
                "quoted_content": {"body": ours.body},
            },
        )
        whapi_fake.post_webhook(quoting)
        settle(server, whapi_fake, turns=2)

        assert [m.body for m in whapi_fake.sent] == [
            "echo: ¿Tenéis el ático libre?",
            "echo: Sí, ese mismo",
        ]
        context = json.dumps(openai_fake.created()[-1]["input"], ensure_ascii=False)
        assert f'replying to this earlier message: \\"{ours.body}\\"' in context
        assert all(m.typing_time >= 1 for m in whapi_fake.sent)


def test_a_validator_gets_one_corrective_retry_kept_out_of_history(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, _ = tool_plugin
    openai_fake.reply = lambda body: (
        "Son 95 € por noche."
        if "Before you answer again" in json.dumps(body["input"])
        else "Son 95."
    )
    with make_server(**env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Qué precio tiene una noche?"))
        settle(server, whapi_fake, turns=1)
        whapi_fake.post_webhook(payloads.text_message(GUEST, "Gracias"))
        settle(server, whapi_fake, turns=2)

        (rejected,) = server.events("reply_rejected")
        assert (rejected["validator"], rejected["reply"]) == ("euros", "Son 95.")
        assert [m.body for m in whapi_fake.sent] == ["Son 95 € por noche.", "Son 95."]
        later = json.dumps(openai_fake.created()[-1]["input"], ensure_ascii=False)
        assert "Son 95 € por noche." in later
        assert "euros (€)" not in later
        assert "Son 95." not in later.replace("Son 95 € por noche.", "")


def test_parallel_tool_calls_run_together_and_answer_once(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, marks = tool_plugin
    openai_fake.call_tools_on_first_request(
        [
            ("quote_stay", {"apartment": "Mar", "nights": 2}),
            ("quote_stay", {"apartment": "Sol", "nights": 2}),
        ]
    )
    with make_server(**env) as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Mar o Sol, 2 noches?"))
        settle(server, whapi_fake, turns=1)

        assert sorted(executions(marks)) == ["Mar", "Sol"]
        assert len(server.events("tool_finished")) == 2
        (reply,) = whapi_fake.sent
        assert '"apartment":"Mar"' in reply.body
        assert '"apartment":"Sol"' in reply.body


def test_groups_are_answered_only_when_allowed(make_server, whapi_fake, openai_fake):
    group = "120363000000000099@g.us"
    with make_server(ALLOWED_CHAT_TYPES="contact,group") as server:
        whapi_fake.post_webhook(payloads.group_text_message(group, "34611000222", "¿Quién viene?"))
        settle(server, whapi_fake, turns=1)
        assert [(m.chat_id, m.body) for m in whapi_fake.sent] == [(group, "echo: ¿Quién viene?")]
