"""The ``{chat}`` of the admin routes: every real chat id works, anything else is a 400.

A malformed chat used to be journaled as it came (a pause of ``foo``, of 20,000 letters,
of a phone number no guest writes from) and answered 200; now it is refused, with what a
chat id looks like, and the journal is not touched.
"""

from __future__ import annotations

import urllib.parse

import pytest

from conserje.eventlog.events import MessageReceived
from conserje.testing.wait import wait_for
from tests.http.conftest import CHAT

WRITES = ("pause", "resume", "reset")
FULL_IDS = [
    CHAT,
    "34600111222@c.us",
    "120363000000000001@g.us",
    "34600111222-1600000000@g.us",
    "123456789012345@lid",
    "120363123456789012@newsletter",
]
MALFORMED = [
    "foo",
    " ",
    "..",
    "\x00",
    "\xff",
    "34600111222@s.whatsapp.ne",
    "+34600111222@s.whatsapp.net",
    "34600111222@example.com",
    "a" * 20_000,
]


def path(chat: str, action: str) -> str:
    return f"/chats/{urllib.parse.quote(chat, safe='@+')}/{action}"


@pytest.mark.parametrize("chat", FULL_IDS)
def test_every_form_of_chat_id_is_paused_resumed_and_reset(runtime, client, chat):
    paused = client.simulate_post(path(chat, "pause"), json={"minutes": 5})
    locks = wait_for(lambda: client.simulate_get("/locks").json["chats"], what="the pause shown")
    resumed = client.simulate_post(path(chat, "resume"))
    reset = client.simulate_post(path(chat, "reset"))

    assert (paused.status_code, resumed.status_code, reset.status_code) == (200, 200, 200)
    assert paused.json["chat"] == resumed.json["chat"] == reset.json["chat"] == chat
    assert [(c["chat"], c["paused"]) for c in locks] == [(chat, True)]
    story = client.simulate_get(path(chat, "timeline")).json["events"]
    assert [(e["chat"], e["type"]) for e in story] == [
        (chat, "handoff_started"),
        (chat, "handoff_ended"),
        (chat, "context_reset"),
    ]


@pytest.mark.parametrize("action", WRITES)
@pytest.mark.parametrize("chat", MALFORMED)
def test_a_malformed_chat_is_refused_and_nothing_is_journaled(runtime, client, chat, action):
    answer = client.simulate_post(path(chat, action), json={"minutes": 5})

    assert answer.status_code == 400
    assert answer.json["title"] == "Bad chat id"
    assert "is not a chat id: use one like 34600111222@s.whatsapp.net" in answer.json["description"]
    assert runtime.journal.last_seq == 0


@pytest.mark.parametrize("action", WRITES)
@pytest.mark.parametrize("number", ["34600111222", "+34600111222"])
def test_a_phone_number_alone_is_refused_with_the_chat_id_to_use(runtime, client, number, action):
    answer = client.simulate_post(path(number, action))

    assert answer.status_code == 400
    assert answer.json["description"] == (
        f"'{number}' is a number, not a chat id: the chat of a person is {CHAT}"
    )
    assert runtime.journal.last_seq == 0


@pytest.mark.parametrize("chat", MALFORMED)
def test_a_malformed_chat_has_no_timeline_but_a_400_that_says_why(runtime, client, chat):
    runtime.journal.append([MessageReceived(chat=CHAT, message_id="m1", text="hola")])

    answer = client.simulate_get(path(chat, "timeline"))

    assert answer.status_code == 400
    assert answer.json["title"] == "Bad chat id"
    assert "or its phone digits" in answer.json["description"]


@pytest.mark.parametrize(
    ("chat", "named"),
    [
        (CHAT, CHAT),
        ("34600111222", CHAT),
        ("+34600111222", CHAT),
        ("34600111222-1600000000", "34600111222-1600000000@g.us"),
        ("34600111222-1600000000@g.us", "34600111222-1600000000@g.us"),
    ],
)
def test_a_timeline_takes_the_full_id_or_the_number_alone(runtime, client, chat, named):
    runtime.journal.append(
        [
            MessageReceived(chat=CHAT, message_id="m1", text="hola"),
            MessageReceived(chat="34600111222-1600000000@g.us", message_id="m2", text="grupo"),
        ]
    )

    answer = client.simulate_get(path(chat, "timeline"))

    assert answer.status_code == 200
    assert [e["chat"] for e in answer.json["events"]] == [named]


def test_an_unknown_chat_is_still_an_unknown_chat(runtime, client):
    assert client.simulate_get(path("34699999999", "timeline")).status_code == 404
