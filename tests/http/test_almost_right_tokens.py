"""Admin endpoints and ``/hook`` refuse missing, wrong and almost-right tokens.

Whitespace HTTP itself allows around a credential (``1*SP`` after the scheme, optional
whitespace around a header value) and the scheme's case (``bearer``) are the only
leeway: the token's own characters must match exactly.
"""

from __future__ import annotations

import falcon.testing
import pytest

from conserje.http.app import create_app
from conserje.testing import payloads
from tests.http.conftest import CHAT

ADMIN = "s3cret-Admin-Token"
WEBHOOK = "w3bh00k-Token"


def almost(token: str) -> list[str]:
    """``Authorization`` values that are not quite ``Bearer <token>``."""
    return [
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {token[:-1]}",
        f"Bearer {token}x",
        f"Bearer x{token}",
        f"Bearer {token.upper()}",
        f"Bearer {token.lower()}",
        f"Bearer {token[:4]} {token[4:]}",
        f"Bearer {token},{token}",
        f"Bearer {token}\x00",
        f"Bearer {token}\u200b",
        f"Bearer {token}é",
        f"Bearer: {token}",
        f"Bearer={token}",
        f"Bearer\t{token}",
        f"BearerX {token}",
        f"Basic {token}",
        f"Token {token}",
        f"Digest {token}",
        token,
        f"{token} Bearer",
        "Bearer null",
        "Bearer undefined",
    ]


RIGHT_ADMIN = [f"Bearer {ADMIN}", f"bearer {ADMIN}", f"BEARER {ADMIN}", f"Bearer   {ADMIN}  "]

ADMIN_CALLS = [
    ("GET", "/locks"),
    ("POST", f"/chats/{CHAT}/pause"),
    ("POST", f"/chats/{CHAT}/resume"),
    ("POST", f"/chats/{CHAT}/reset"),
    ("GET", f"/chats/{CHAT}/timeline"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/stats"),
    ("GET", "/dashboard/events"),
]


@pytest.fixture
def guarded(make_runtime):
    runtime = make_runtime(ADMIN_TOKEN=ADMIN, WEBHOOK_TOKEN=WEBHOOK)
    return runtime, falcon.testing.TestClient(create_app(runtime))


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_endpoints_refuse_every_almost_right_token(guarded, method, path):
    runtime, client = guarded

    for value in [*almost(ADMIN), f"Bearer {WEBHOOK}"]:
        answer = client.simulate_request(method, path, headers={"Authorization": value})
        assert answer.status_code == 401, repr(value)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    # Nor is the token anywhere else than the Authorization header.
    assert client.simulate_request(method, path, params={"access_token": ADMIN}).status_code == 401
    assert (
        client.simulate_request(method, path, headers={"X-Admin-Token": ADMIN}).status_code == 401
    )
    assert (
        client.simulate_request(
            method, path, headers={"Cookie": f"conserje_admin={ADMIN}"}
        ).status_code
        == 401
    )
    assert runtime.journal.last_seq == 0


# Not the event stream: with the right token it stays open for its 30 seconds.
@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS[:7])
def test_admin_endpoints_take_the_token_with_the_leeway_http_allows(guarded, method, path):
    _, client = guarded

    for value in RIGHT_ADMIN:
        answer = client.simulate_request(method, path, headers={"Authorization": value})
        assert answer.status_code in (200, 404), (value, answer.status, answer.text)
        # The journal has nothing for the chat yet: the timeline is 404, past the token.
        assert answer.status_code == 200 or path.endswith("/timeline")


def test_the_dashboard_sign_in_refuses_almost_right_tokens(guarded):
    _, client = guarded

    for value in almost(ADMIN):
        token = value.partition(" ")[2] or value
        if token.strip() == ADMIN:
            continue
        answer = client.simulate_get("/dashboard", params={"token": token})
        assert answer.status_code == 401, repr(token)
        assert "set-cookie" not in answer.headers


def test_a_forwarded_for_header_does_not_make_a_remote_client_loopback(make_runtime):
    client = falcon.testing.TestClient(create_app(make_runtime()))

    for method, path in ADMIN_CALLS:
        answer = client.simulate_request(
            method,
            path,
            remote_addr="203.0.113.7",
            headers={
                "X-Forwarded-For": "127.0.0.1",
                "X-Real-IP": "127.0.0.1",
                "Forwarded": "for=127.0.0.1",
            },
        )
        assert answer.status_code == 403, path


def test_the_webhook_refuses_almost_right_tokens_in_the_header_and_the_path(guarded):
    runtime, client = guarded
    body = payloads.text_message(CHAT, "hola")

    for value in [*almost(WEBHOOK), f"Bearer {ADMIN}"]:
        answer = client.simulate_post("/hook", json=body, headers={"Authorization": value})
        assert answer.status_code == 401, repr(value)
    for token in (
        WEBHOOK[:-1],
        WEBHOOK + "x",
        WEBHOOK.upper(),
        "%20" + WEBHOOK,
        WEBHOOK + "%20",
        WEBHOOK + "%00",
        "%ff%fe",
        "%ed%a0%80",
        ADMIN,
        "messages",
    ):
        answer = client.simulate_post(f"/hook/{token}", json=body)
        assert answer.status_code in (401, 404), token
    assert runtime.journal.last_seq == 0


def test_the_webhook_takes_its_token_in_either_form(guarded):
    runtime, client = guarded

    by_header = client.simulate_post(
        "/hook",
        json=payloads.text_message(CHAT, "uno"),
        headers={"Authorization": f"bearer  {WEBHOOK} "},
    )
    in_path = client.simulate_post(f"/hook/{WEBHOOK}", json=payloads.text_message(CHAT, "dos"))

    assert by_header.status_code == in_path.status_code == 200
    assert runtime.journal.last_seq == 2
