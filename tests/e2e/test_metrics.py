"""``GET /metrics`` of the real server: each metric moves on the path it measures."""

from __future__ import annotations

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from conserje.testing import payloads
from conserje.testing.process import ServerProcess
from conserje.testing.wait import wait_for
from tests.e2e.conftest import COMPACTING, settle, talk_past_the_threshold

pytestmark = pytest.mark.e2e

GUEST = "34655000111@s.whatsapp.net"
OTHER = "34655000222@s.whatsapp.net"
TOKEN = "s3cret"
HOOK = f"/hook/{TOKEN}"


class Scrape:
    """One reading of ``/metrics``: sample values by name and labels (absent is 0)."""

    def __init__(self, server: ServerProcess) -> None:
        answer = server.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
        self._samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self._samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after(name, **labels) - before(name, **labels)


def test_a_message_and_its_reply_move_the_conversation_and_journal_metrics(
    make_server, whapi_fake, openai_fake
):
    with make_server() as server:
        before = Scrape(server)
        assert whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay sitio?")) == 200
        settle(server, whapi_fake, turns=1)
        after = Scrape(server)

        assert moved(before, after, "conserje_webhooks_total", outcome="accepted") == 1
        assert moved(before, after, "conserje_messages_received_total", kind="guest_text") == 1
        assert moved(before, after, "conserje_turns_total", outcome="replied") == 1
        assert moved(before, after, "conserje_turn_seconds_count", outcome="replied") == 1
        assert moved(before, after, "conserje_model_runs_total", status="completed") == 1
        assert moved(before, after, "conserje_model_run_seconds_count") == 1
        assert moved(before, after, "conserje_reply_chunks_sent_total") == 1
        assert moved(before, after, "conserje_reply_chunks_failed_total") == 0
        (run,) = server.events("run_finished")
        for direction in ("input", "output"):
            tokens = run["usage"][f"{direction}_tokens"]
            assert tokens > 0
            assert moved(before, after, "conserje_model_tokens_total", direction=direction) == (
                tokens
            )
        # The echo of our reply came back as a webhook that needs no action.
        assert moved(before, after, "conserje_webhooks_total", outcome="ignored") >= 1
        assert after("conserje_chat_actors") == 1
        assert moved(before, after, "conserje_journal_append_seconds_count") >= 1
        assert moved(before, after, "conserje_journal_fsync_seconds_count") >= 1
        assert after("conserje_journal_seq") == server.journal()[-1]["seq"]


def test_every_webhook_answer_is_counted_by_its_outcome(make_server, whapi_fake):
    # too_large: tests/e2e/test_hostile_clients.py (Waitress refuses those bodies itself).
    with make_server(WEBHOOK_TOKEN=TOKEN) as server:
        whapi_fake.webhook_url = f"{server.url}{HOOK}"
        message = payloads.text_message(GUEST, "¿Tenéis parking?")
        assert whapi_fake.post_webhook(message) == 200
        settle(server, whapi_fake, turns=1)
        before = Scrape(server)

        assert server.post(HOOK, json=message).status_code == 200
        assert server.post(HOOK, content=b"{not json").status_code == 400
        assert server.post("/hook/nope", json=message).status_code == 401
        status = payloads.status_update("abcdEFGH-ijklMNOP", "read", GUEST)
        assert server.post(HOOK, json=status).status_code == 200
        after = Scrape(server)

        for outcome in ("duplicate", "malformed", "unauthorized", "ignored"):
            assert moved(before, after, "conserje_webhooks_total", outcome=outcome) == 1, outcome
        assert moved(before, after, "conserje_webhooks_total", outcome="accepted") == 0
        assert moved(before, after, "conserje_messages_received_total", kind="guest_text") == 0


def test_tools_fallbacks_and_a_person_on_the_business_phone_are_counted(
    make_server, whapi_fake, openai_fake, tool_plugin
):
    env, _ = tool_plugin
    with make_server(FALLBACK_MESSAGE="Perdona, vuelvo enseguida.", **env) as server:
        before = Scrape(server)
        openai_fake.call_tool_on_first_request("quote_stay", {"apartment": "Mar", "nights": 3})
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Cuánto cuestan 3 noches?"))
        settle(server, whapi_fake, turns=1)
        after_tool = Scrape(server)

        assert (
            moved(before, after_tool, "conserje_tool_calls_total", tool="quote_stay", outcome="ok")
            == 1
        )
        assert moved(before, after_tool, "conserje_model_runs_total", status="completed") == 2
        assert moved(before, after_tool, "conserje_model_run_seconds_count") == 2

        openai_fake.tool_calls = None
        openai_fake.fail_next_run("server_error", "the model is down")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hola?"))
        settle(server, whapi_fake, turns=2)
        after_fallback = Scrape(server)

        assert moved(after_tool, after_fallback, "bot_fallbacks_total") == 1
        assert moved(after_tool, after_fallback, "conserje_turns_total", outcome="fallback") == 1
        assert moved(after_tool, after_fallback, "conserje_model_runs_total", status="failed") == 1

        agent = payloads.text_message(OTHER, "Hola, soy Carmen", from_me=True)
        assert server.post("/hook", json=agent).status_code == 200
        wait_for(lambda: server.events("handoff_started"), what="the agent's hand-off")
        after_agent = Scrape(server)

        assert (
            moved(after_fallback, after_agent, "conserje_messages_received_total", kind="agent")
            == 1
        )
        assert moved(after_fallback, after_agent, "conserje_handoffs_total", by="agent") == 1


def test_compaction_and_chats_over_the_token_threshold_are_counted(
    make_server, whapi_fake, openai_fake
):
    with make_server(**COMPACTING) as server:
        talk_past_the_threshold(server, whapi_fake, GUEST)
        compacted = Scrape(server)

        compactions = server.events("thread_compacted")
        assert compactions
        assert compacted("token_cleanups_total") == len(compactions)

        # A short history has nothing older to summarise, so a big input leaves the
        # chat over the threshold until an admin resets it.
        openai_fake.usage = lambda body, reply: (500, 5)
        whapi_fake.post_webhook(payloads.text_message(OTHER, "hola"))
        settle(server, whapi_fake, turns=4)
        over = Scrape(server)
        assert moved(compacted, over, "high_token_threads") == 1
        assert moved(compacted, over, "token_cleanups_total") == 0

        assert server.post(f"/chats/{OTHER}/reset").status_code == 200
        wait_for(
            lambda: Scrape(server)("high_token_threads") == compacted("high_token_threads"),
            what="the reset chat is no longer over the threshold",
        )


def test_a_message_during_a_turn_in_flight_waits_in_the_mailbox_and_is_counted(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "primera"))
        wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="first run polled")
        before = Scrape(server)
        whapi_fake.post_webhook(payloads.text_message(GUEST, "segunda"))
        # The chat actor is inside its turn, so the second message waits in its mailbox.
        wait_for(
            lambda: Scrape(server)("conserje_chat_mailbox_messages") >= 1,
            what="the mailbox sample sees the waiting message",
        )
        assert moved(before, Scrape(server), "race_errors_total") == 1

        openai_fake.release()
        settle(server, whapi_fake, turns=2)
        wait_for(
            lambda: Scrape(server)("conserje_chat_mailbox_messages") == 0,
            what="the mailbox is empty again",
        )
        assert moved(before, Scrape(server), "race_errors_total") == 1


def test_an_orphaned_run_recovered_after_a_crash_is_counted(make_server, whapi_fake, openai_fake):
    openai_fake.hold = True
    server = make_server().start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Admitís mascotas?"))
    wait_for(lambda: openai_fake.requests("GET", "/v1/responses/"), what="the run is polled")
    server.kill()

    server.restart()
    wait_for(lambda: server.events("run_recovered"), what="the orphan is adopted")
    openai_fake.release()
    settle(server, whapi_fake, turns=1)
    after = Scrape(server)
    server.stop()

    assert after("conserje_orphaned_runs_recovered_total", outcome="adopted") == 1
    assert after("conserje_turns_total", outcome="replied") == 1
    assert after("conserje_journal_seq") == server.journal()[-1]["seq"]
