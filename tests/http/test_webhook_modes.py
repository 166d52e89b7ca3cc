"""Whapi's three webhook modes reach ``/hook``, with the token in the URL or in the header.

``body`` mode posts to the URL itself; ``path`` mode appends ``/{type}/{method}``;
``method`` mode appends ``/{type}`` and sends the event's method as the HTTP verb.
"""

from __future__ import annotations

import logging

import falcon.testing
import pytest
import yaml

from conserje.audit.source import read_events
from conserje.eventlog.events import MessageReceived
from conserje.http.app import create_app
from conserje.testing import payloads
from conserje.whapi.webhook_modes import EVENT_METHODS, EVENT_TYPES
from tests.http.conftest import CHAT

TOKEN = "w3bh00k-Token"
# No turn may start: the model and Whapi are nowhere (and never the internet).
QUIET = {
    "BUFFER_WINDOW_MS": "600000",
    "BUFFER_MAX_WAIT_MS": "3600000",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "WHAPI_API_URL": "http://127.0.0.1:9",
}
BEARER = {"Authorization": f"Bearer {TOKEN}"}

# (mode, URL, whether the URL carries the token) for a new guest message.
DELIVERIES = [
    ("body", "/hook", False),
    ("body", f"/hook/{TOKEN}", True),
    ("path", "/hook/messages/post", False),
    ("path", f"/hook/{TOKEN}/messages/post", True),
    ("method", "/hook/messages", False),
    ("method", f"/hook/{TOKEN}/messages", True),
    # Whapi's documentation writes the type in the singular.
    ("path", "/hook/message/post", False),
    ("method", f"/hook/{TOKEN}/message", True),
]


def outcome(runtime, name: str) -> float:
    return (
        runtime.metrics.registry.get_sample_value("conserje_webhooks_total", {"outcome": name})
        or 0.0
    )


def journaled_texts(runtime) -> list[str]:
    events = read_events(runtime.settings.journal_dir, progress=False)
    return [e.text for e in events if isinstance(e, MessageReceived)]


@pytest.fixture
def guarded(make_runtime):
    runtime = make_runtime(WEBHOOK_TOKEN=TOKEN, **QUIET)
    return runtime, falcon.testing.TestClient(create_app(runtime))


@pytest.mark.parametrize(("mode", "url", "token_in_url"), DELIVERIES)
def test_a_guest_message_is_journaled_in_every_mode_and_token_form(
    guarded, mode, url, token_in_url
):
    runtime, client = guarded
    headers = {} if token_in_url else BEARER

    answer = client.simulate_post(
        url, json=payloads.text_message(CHAT, f"hola por {mode}"), headers=headers
    )

    assert answer.status_code == 200, answer.text
    assert answer.json["received"] == 1
    assert journaled_texts(runtime) == [f"hola por {mode}"]
    assert outcome(runtime, "accepted") == 1


@pytest.mark.parametrize(("mode", "url", "token_in_url"), DELIVERIES)
def test_every_mode_works_without_a_webhook_token(make_runtime, mode, url, token_in_url):
    runtime = make_runtime(**QUIET)
    client = falcon.testing.TestClient(create_app(runtime))

    answer = client.simulate_post(url, json=payloads.text_message(CHAT, "sin token"))

    assert answer.status_code == 200, answer.text
    assert journaled_texts(runtime) == ["sin token"]


@pytest.mark.parametrize("url", ["/hook/messages", "/hook/messages/post", "/hook/presences"])
def test_an_event_type_in_the_url_is_never_taken_for_the_token(guarded, url):
    runtime, client = guarded
    body = payloads.text_message(CHAT, "hola")

    bare = client.simulate_post(url, json=body)
    wrong = client.simulate_post(url, json=body, headers={"Authorization": "Bearer messages"})

    assert (bare.status_code, wrong.status_code) == (401, 401)
    assert journaled_texts(runtime) == []
    assert outcome(runtime, "unauthorized") == 2


@pytest.mark.parametrize("verb", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("url", "headers"),
    [("/hook/messages", BEARER), (f"/hook/{TOKEN}/messages", {})],
)
def test_method_mode_edits_and_deletions_are_answered_200_and_ignored(guarded, verb, url, headers):
    runtime, client = guarded
    body = payloads.envelope(
        "messages",
        payloads.text_message(CHAT, "editado")["messages"],
        "messages",
        verb.lower(),
    )

    answer = client.simulate_request(verb, url, json=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json == {"received": 0, "duplicates": 0, "ignored": 1, "unreadable": 0}
    assert journaled_texts(runtime) == []
    assert outcome(runtime, "ignored") == 1


def test_path_mode_events_other_than_post_are_answered_200_and_ignored(guarded):
    runtime, client = guarded
    body = payloads.text_message(CHAT, "borrado")

    answers = [
        client.simulate_post("/hook/messages/delete", json=body, headers=BEARER),
        client.simulate_post(f"/hook/{TOKEN}/messages/patch", json=body),
    ]

    assert [a.status_code for a in answers] == [200, 200]
    assert journaled_texts(runtime) == []
    assert outcome(runtime, "ignored") == 2


def test_other_verbs_still_need_the_token_and_a_json_body(guarded):
    runtime, client = guarded
    body = payloads.text_message(CHAT, "hola")

    unauthorized = client.simulate_patch("/hook/messages", json=body)
    wrong_path_token = client.simulate_patch("/hook/nope/messages", json=body)
    malformed = client.simulate_patch("/hook/messages", body=b"{not json", headers=BEARER)

    assert (unauthorized.status_code, wrong_path_token.status_code) == (401, 401)
    assert malformed.status_code == 400
    assert outcome(runtime, "unauthorized") == 2
    assert outcome(runtime, "malformed") == 1


@pytest.mark.parametrize(
    ("verb", "url"),
    [
        ("POST", "/hook/messages/bogus"),
        ("POST", f"/hook/{TOKEN}/bogus"),
        ("POST", f"/hook/{TOKEN}/messages/bogus"),
        ("POST", "/hook/messages/messages"),
        ("POST", "/hook/messages/statuses/post"),
        ("POST", "/hook/post"),
        ("PATCH", f"/hook/{TOKEN}"),
        ("PUT", "/hook/bogus"),
    ],
)
def test_a_path_that_is_no_webhook_form_is_404_and_counted_as_malformed(guarded, verb, url):
    runtime, client = guarded

    answer = client.simulate_request(
        verb, url, json=payloads.text_message(CHAT, "hola"), headers=BEARER
    )

    assert answer.status_code == 404
    assert TOKEN not in answer.text
    assert journaled_texts(runtime) == []
    assert outcome(runtime, "malformed") == 1


def test_a_url_type_that_disagrees_with_the_body_is_logged_and_the_body_read(guarded, caplog):
    runtime, client = guarded

    with caplog.at_level(logging.WARNING, logger="conserje.http.webhook"):
        answer = client.simulate_post(
            "/hook/statuses/post", json=payloads.text_message(CHAT, "hola"), headers=BEARER
        )

    assert answer.status_code == 200
    assert journaled_texts(runtime) == ["hola"]
    assert [r.getMessage() for r in caplog.records] == [
        "webhook URL names event type 'statuses' but its body is 'messages'; reading the body "
        "as it is (check the channel's webhook URL in Whapi)"
    ]


def test_the_description_lists_exactly_the_event_names_the_server_reads(client):
    spec = yaml.safe_load(client.simulate_get("/openapi.yaml").text)
    parameters = spec["components"]["parameters"]

    assert set(parameters["EventTypeInPath"]["schema"]["enum"]) == set(EVENT_TYPES)
    assert set(parameters["EventTypeAfterToken"]["schema"]["enum"]) == set(EVENT_TYPES)
    assert set(parameters["EventMethod"]["schema"]["enum"]) == EVENT_METHODS
    assert set(parameters["EventTypeOrMethod"]["schema"]["enum"]) == set(EVENT_TYPES) | set(
        EVENT_METHODS
    )


@pytest.mark.parametrize("verb", ["PUT", "PATCH", "DELETE"])
def test_other_verbs_on_the_body_mode_url_are_405(guarded, verb):
    runtime, client = guarded

    answer = client.simulate_request(
        verb, "/hook", json=payloads.text_message(CHAT, "hola"), headers=BEARER
    )

    assert answer.status_code == 405
    assert journaled_texts(runtime) == []
