"""The dashboard's page, numbers and timeline, and who may see them."""

from __future__ import annotations

import logging

import falcon.testing
import pytest

from conserje.audit.narrate import narrate
from conserje.eventlog.events import MessageReceived, ReplySending, TurnFinished, TurnStarted
from conserje.http.app import create_app
from conserje.http.auth import SESSION_COOKIE
from conserje.testing.wait import wait_for
from tests.http.conftest import CHAT, OTHER

TOKEN = "admin-s3cret"
READS = ("/dashboard", "/dashboard/stats", f"/chats/{CHAT}/timeline")


@pytest.fixture
def guarded(make_runtime):
    """The app with ADMIN_TOKEN set, and one chat in the journal."""
    runtime = make_runtime(ADMIN_TOKEN=TOKEN)
    runtime.journal.append([MessageReceived(chat=CHAT, message_id="m1", text="hola")])
    return falcon.testing.TestClient(create_app(runtime))


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.simulate_get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        assert f"/dashboard/{asset}" in page.text
        answer = client.simulate_get(f"/dashboard/{asset}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(kind)
    # Nothing is fetched from elsewhere: the page works offline.
    assert "http" not in page.text.replace('content="', "")


@pytest.mark.parametrize("path", [*READS, "/dashboard/events"])
def test_without_the_token_every_dashboard_read_is_refused(guarded, path):
    assert guarded.simulate_get(path).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert guarded.simulate_get(path, headers=wrong).status_code == 401
    forged = {"Cookie": f"{SESSION_COOKIE}={TOKEN}"}
    assert guarded.simulate_get(path, headers=forged).status_code == 401


@pytest.mark.parametrize("path", READS)
def test_the_bearer_token_opens_every_dashboard_read(guarded, path):
    answer = guarded.simulate_get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


def test_a_wrong_token_in_the_url_gets_no_session(guarded):
    answer = guarded.simulate_get("/dashboard", params={"token": "guess"})

    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "/dashboard?token=" in answer.json["description"]


def test_the_token_in_the_url_is_traded_for_a_session_cookie_and_a_clean_url(guarded):
    signed_in = guarded.simulate_get("/dashboard", params={"token": TOKEN})

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/dashboard"
    (cookie,) = signed_in.cookies.values()
    assert cookie.name == SESSION_COOKIE
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert cookie.path == "/"
    assert TOKEN not in cookie.value
    session = {"Cookie": f"{SESSION_COOKIE}={cookie.value}"}
    for path in READS:
        assert guarded.simulate_get(path, headers=session).status_code == 200
    # The session is for reading: changing a chat still needs the token itself.
    assert guarded.simulate_post(f"/chats/{CHAT}/pause", headers=session).status_code == 401


def test_without_an_admin_token_only_loopback_clients_may_look(client):
    for path in READS[:2]:
        assert client.simulate_get(path).status_code == 200
        assert client.simulate_get(path, remote_addr="203.0.113.7").status_code == 403


def test_the_timeline_tells_one_chats_story_newest_last(runtime, client):
    runtime.journal.append([MessageReceived(chat=CHAT, message_id="m1", text="hola")])
    runtime.journal.append([MessageReceived(chat=OTHER, message_id="m2", text="other chat")])
    runtime.journal.append(
        [
            TurnStarted(chat=CHAT, turn_id="t1", message_ids=["m1"]),
            ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="¡Hola! ¿En qué te ayudo?"),
            TurnFinished(chat=CHAT, turn_id="t1", outcome="replied"),
        ]
    )

    whole = client.simulate_get(f"/chats/{CHAT}/timeline")
    newest = client.simulate_get("/chats/34600111222/timeline", params={"limit": "2"})

    assert whole.status_code == 200
    story = whole.json
    assert (story["chat"], story["total"], story["truncated"]) == (CHAT, 4, False)
    assert [(e["seq"], e["type"], e["who"]) for e in story["events"]] == [
        (1, "message_received", "guest"),
        (3, "turn_started", "system"),
        (4, "reply_sending", "assistant"),
        (5, "turn_finished", "system"),
    ]
    reply = story["events"][2]
    assert reply["story"] == 'reply chunk 1 sending: "¡Hola! ¿En qué te ayudo?"'
    assert reply["fields"] == {
        "turn_id": "t1",
        "chunk": 0,
        "text": "¡Hola! ¿En qué te ayudo?",
        "audio": "",
    }
    assert reply["chat"] == CHAT
    assert reply["ts"] > 0
    # The chat by its phone digits; only the newest events, and it says so.
    assert newest.status_code == 200
    assert (newest.json["total"], newest.json["truncated"]) == (4, True)
    assert [e["seq"] for e in newest.json["events"]] == [4, 5]


def test_the_timeline_story_is_the_audit_story(runtime, client):
    (event,) = runtime.journal.append(
        [TurnFinished(chat=CHAT, turn_id="t9", outcome="failed", error="model down")]
    )
    (record,) = client.simulate_get(f"/chats/{CHAT}/timeline").json["events"]
    assert (record["who"], record["story"]) == narrate(event)


def test_a_chat_the_journal_does_not_know_is_404(runtime, client):
    assert client.simulate_get(f"/chats/{CHAT}/timeline").status_code == 404
    runtime.journal.append([MessageReceived(chat=OTHER, message_id="m2", text="hola")])
    assert client.simulate_get(f"/chats/{CHAT}/timeline").status_code == 404


@pytest.mark.parametrize("limit", ["0", "2001", "many"])
def test_a_timeline_limit_out_of_bounds_is_refused(runtime, client, limit):
    runtime.journal.append([MessageReceived(chat=CHAT, message_id="m1", text="hola")])
    answer = client.simulate_get(f"/chats/{CHAT}/timeline", params={"limit": limit})
    assert answer.status_code == 400


def test_stats_report_the_numbers_and_the_latest_problems(runtime, client):
    runtime.journal.append(
        [
            TurnStarted(chat=CHAT, turn_id="t1", message_ids=["m1"]),
            TurnFinished(chat=CHAT, turn_id="t1", outcome="fallback"),
        ]
    )
    logger = logging.getLogger("conserje.test_dashboard")
    logger.addHandler(runtime.recent_logs)
    try:
        logger.warning("Whapi refused a send to %s", CHAT)
    finally:
        logger.removeHandler(runtime.recent_logs)

    # The metrics move once the journal's observers had the batch, just after the append.
    stats = wait_for(
        lambda: (s := client.simulate_get("/dashboard/stats").json)["turnsTotal"] and s,
        what="the turn counted",
    )

    assert stats["phase"] == "ready"
    assert stats["journalSeq"] == 2
    assert (stats["turnsTotal"], stats["fallbacks"], stats["fallbacksTotal"]) == (1, 1, 1)
    assert stats["turnSeconds"] == 0.0  # one append: both events have the same time
    (problem,) = stats["problems"]
    assert problem["level"] == "WARNING"
    assert problem["message"] == "Whapi refused a send to 346****22@s.whatsapp.net"
