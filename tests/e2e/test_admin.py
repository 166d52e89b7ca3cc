"""The admin API of the real server: the locks view, clearing them, and failures counted."""

from __future__ import annotations

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.e2e.conftest import install_plugin, settle

GUEST = "34611222333@s.whatsapp.net"
OTHER = "34622333444@s.whatsapp.net"


def metric(server, line_start: str) -> float:
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rpartition(" ")[2])
    raise AssertionError(f"{line_start} not exposed")


RESTARTS_CLEARED = 'conserje_chat_actor_restarts_total{reason="cleared"}'


def test_locks_show_the_turn_in_flight_the_waiting_messages_and_the_pause(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    with make_server() as server:
        assert server.post(f"/chats/{OTHER}/pause", json={"minutes": 5}).status_code == 200
        whapi_fake.post_webhook(payloads.text_message(GUEST, "uno"))
        wait_for(openai_fake.created, what="the run started")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "dos"))

        def chats():
            return {c["chat"]: c for c in server.get("/locks").json()["chats"]}

        wait_for(lambda: chats().get(GUEST, {}).get("waitingMessages") == 1, what="dos waits")
        locks = server.get("/locks").json()
        assert (locks["activeLocks"], locks["activeQueues"]) == (1, 1)
        busy = chats()[GUEST]
        started = server.events("turn_started")[0]["ts"]
        assert busy["turnInFlightSince"] == started
        assert busy["paused"] is False
        wait_for(lambda: OTHER in chats(), what="the pause shown")
        paused = chats()[OTHER]
        assert paused["paused"] is True
        assert paused["pausedUntil"] > started + 4 * 60
        assert (paused["turnInFlightSince"], paused["waitingMessages"]) == (None, 0)

        openai_fake.release()
        settle(server, whapi_fake, turns=2)
        server.post(f"/chats/{OTHER}/resume")
        wait_for(lambda: OTHER not in chats(), what="the pause lifted")


def test_clearing_locks_restarts_chats_from_the_journal_and_loses_no_message(
    make_server, whapi_fake, openai_fake
):
    openai_fake.hold = True
    with make_server() as server:
        whapi_fake.post_webhook(payloads.text_message(GUEST, "uno"))
        wait_for(openai_fake.created, what="the run started")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "dos"))
        whapi_fake.post_webhook(payloads.text_message(OTHER, "hola"))
        wait_for(lambda: server.get("/health").json()["liveChatActors"] == 2, what="two actors")

        answer = server.post("/locks/clear")
        assert answer.status_code == 202
        assert answer.json() == {"restarting": 2}
        # The chat with a run in flight restarts once that message is handled.
        wait_for(lambda: metric(server, RESTARTS_CLEARED) == 1, what="the idle chat restarted")
        whapi_fake.post_webhook(payloads.text_message(GUEST, "tres"))
        openai_fake.release()
        wait_for(lambda: metric(server, RESTARTS_CLEARED) == 2, what="both chats restarted")

        def consumed():
            return sorted(i for e in server.events("turn_started") for i in e["message_ids"])

        received = sorted(e["message_id"] for e in server.events("message_received"))
        assert len(received) == 4
        wait_for(lambda: consumed() == received, what="every message taken by one turn")
        settle(server, whapi_fake, turns=len(server.events("turn_started")))
        # "dos" and "tres" may share a turn or not, depending on when the restart lands.
        said = [line for m in whapi_fake.sent for line in m.body.removeprefix("echo: ").split("\n")]
        assert sorted(said) == ["dos", "hola", "tres", "uno"]
        assert server.get("/health").json()["liveChatActors"] == 2


def test_clearing_locks_is_refused_in_production_and_without_the_admin_token(make_server):
    with make_server(ENVIRONMENT="production", ADMIN_TOKEN="adm1n") as server:
        assert server.post("/locks/clear").status_code == 401
        refused = server.post("/locks/clear", headers={"Authorization": "Bearer adm1n"})
        assert refused.status_code == 403
        assert metric(server, RESTARTS_CLEARED) == 0


THREAD_PLUGIN = """
import threading

import msgspec

from conserje.assistant.tools import tool


class Nothing(msgspec.Struct):
    pass


def _lost():
    raise RuntimeError("lost in a background thread")


@tool(description="Start some background work.")
def start_background_work(args: Nothing) -> dict:
    worker = threading.Thread(target=_lost, name="background-work")
    worker.start()
    worker.join()
    return {"started": True}
"""


def test_an_exception_that_ends_a_thread_is_logged_and_counted(
    make_server, whapi_fake, openai_fake, tmp_path
):
    site = install_plugin(
        tmp_path / "site",
        "conserje_thread_tools",
        THREAD_PLUGIN,
        "[conserje.tools]\nwork = conserje_thread_tools:start_background_work\n",
    )
    openai_fake.call_tool_on_first_request("start_background_work", {})
    with make_server(PYTHONPATH=str(site)) as server:
        uncaught = 'conserje_unexpected_errors_total{where="thread"}'
        assert metric(server, uncaught) == 0
        whapi_fake.post_webhook(payloads.text_message(GUEST, "empieza"))
        settle(server, whapi_fake, turns=1)
        assert metric(server, uncaught) == 1
        log = server.log_text()
        assert "thread background-work ended by an uncaught RuntimeError" in log
        assert "lost in a background thread" in log
        # The process went on: the guest got the turn's answer.
        assert len(whapi_fake.sent) == 1
