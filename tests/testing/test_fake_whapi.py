from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from conserje.testing import payloads
from conserje.testing._server import FakeRequest, FakeResponse, FakeServer, Fault, json_response
from conserje.testing.fake_whapi import FakeWhapi, SentMessage
from conserje.testing.samples import PHOTO_MIME, VOICE_MIME, photo_jpg, voice_ogg

ID_PATTERN = re.compile(r"^[A-Za-z0-9._]{4,30}-[A-Za-z0-9._]{4,14}$")
GUEST = "15557654321"
GUEST_CHAT = f"{GUEST}@s.whatsapp.net"


class Receiver(FakeServer):
    """A webhook endpoint that records requests and answers from a script of statuses."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[int] = []
        self.received: list[FakeRequest] = []

    def route(self, request: FakeRequest) -> FakeResponse:
        self.received.append(request)
        status = self.script.pop(0) if self.script else 200
        return json_response(status, {})

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.received]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


# Servers are shared across the module and reset per test: stopping one costs up to
# half a second of shutdown polling, which would dominate the run time.
@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeWhapi]:
    with FakeWhapi(echo_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakeWhapi) -> FakeWhapi:
    shared_fake.reset()
    shared_fake.webhook_url = None
    shared_fake.webhook_headers = {}
    shared_fake.webhook_mode = "body"
    shared_fake.echo = True
    return shared_fake


@pytest.fixture
def receiver(shared_receiver: Receiver) -> Receiver:
    shared_receiver.script.clear()
    shared_receiver.received.clear()
    return shared_receiver


@pytest.fixture
def api(fake: FakeWhapi) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    with httpx2.Client(base_url=fake.url, headers=headers, trust_env=False) as client:
        yield client


def send(api: httpx2.Client, body: str, to: str = GUEST_CHAT) -> dict[str, Any]:
    response = api.post("/messages/text", json={"to": to, "body": body})
    assert response.status_code == 201
    return response.json()["message"]


def test_send_text_answers_201_with_the_api_echo_shape(fake: FakeWhapi, api: httpx2.Client):
    response = api.post(
        "/messages/text", json={"to": GUEST_CHAT, "body": "Room 4 is ready", "typing_time": 2}
    )

    assert response.status_code == 201
    answer = response.json()
    assert answer["sent"] is True
    message = answer["message"]
    assert ID_PATTERN.match(message["id"])
    assert message["from_me"] is True
    assert message["type"] == "text"
    assert message["chat_id"] == GUEST_CHAT
    assert isinstance(message["timestamp"], int)
    assert message["source"] == "api"
    assert message["device_id"] == 11
    assert message["status"] == "pending"
    assert message["text"] == {"body": "Room 4 is ready"}
    assert message["from"] == fake.own_number
    assert "from_name" not in message
    [sent] = fake.sent
    assert isinstance(sent, SentMessage)
    assert (sent.id, sent.chat_id, sent.type, sent.body) == (
        message["id"],
        GUEST_CHAT,
        "text",
        "Room 4 is ready",
    )
    assert sent.typing_time == 2.0
    assert sent.raw["typing_time"] == 2


def test_bare_phone_is_normalised_and_ids_are_fresh(fake: FakeWhapi, api: httpx2.Client):
    first = send(api, "one", to=GUEST)
    second = send(api, "two", to=GUEST)

    assert first["chat_id"] == GUEST_CHAT
    assert first["id"] != second["id"]
    assert [m.body for m in fake.sent_to(GUEST)] == ["one", "two"]
    assert fake.sent_to("15550000000@s.whatsapp.net") == []


def test_bad_or_missing_token_is_channel_not_found(fake: FakeWhapi):
    body = {"to": GUEST_CHAT, "body": "hi"}
    with httpx2.Client(base_url=fake.url, trust_env=False) as client:
        missing = client.post("/messages/text", json=body)
        wrong = client.post("/messages/text", json=body, headers={"Authorization": "Bearer x"})

    for response in (missing, wrong):
        assert response.status_code == 404
        assert response.json() == {"error": {"code": 404, "message": "Channel not found"}}
    assert fake.sent == []


def test_unauthorised_channel_answers_401(fake: FakeWhapi, api: httpx2.Client):
    fake.authorised = False

    response = api.post("/messages/text", json={"to": GUEST_CHAT, "body": "hi"})

    assert response.status_code == 401
    assert response.json()["error"] == {"code": 401, "message": "Need channel authorization"}


@pytest.mark.parametrize(
    "body",
    [
        {"to": GUEST_CHAT},
        {"to": GUEST_CHAT, "body": ""},
        {"to": GUEST_CHAT, "body": 5},
        {"body": "hi"},
        {"to": "12345", "body": "hi"},
        {"to": "not-a-phone@s.whatsapp.net", "body": "hi"},
        {"to": GUEST_CHAT, "body": "hi", "typing_time": 61},
    ],
)
def test_invalid_send_is_400_with_error_body(fake: FakeWhapi, api: httpx2.Client, body: dict):
    response = api.post("/messages/text", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["message"]
    assert fake.sent == []


def test_non_json_body_is_400(api: httpx2.Client):
    response = api.post("/messages/text", content=b"{nope", headers={"Content-Type": "text/plain"})

    assert response.status_code == 400


def test_voice_and_image_sends(fake: FakeWhapi, api: httpx2.Client):
    voice = api.post(
        "/messages/voice", json={"to": GUEST_CHAT, "media": "data:audio/ogg;base64,T2dn"}
    )
    image = api.post(
        "/messages/image",
        json={"to": GUEST_CHAT, "media": "https://example.test/a.png", "caption": "Map"},
    )
    no_media = api.post("/messages/voice", json={"to": GUEST_CHAT})

    assert voice.status_code == image.status_code == 201
    assert no_media.status_code == 400
    voice_msg, image_msg = voice.json()["message"], image.json()["message"]
    assert voice_msg["type"] == "voice"
    assert re.fullmatch(r"voice-[0-9a-f]+", voice_msg["voice"]["id"])
    assert voice_msg["voice"]["mime_type"].startswith("audio/ogg")
    assert image_msg["type"] == "image"
    assert re.fullmatch(r"image-[0-9a-f]+", image_msg["image"]["id"])
    assert image_msg["image"]["caption"] == "Map"
    assert [(m.type, m.body) for m in fake.sent] == [("voice", ""), ("image", "Map")]


def test_presences_set_and_subscribe(fake: FakeWhapi, api: httpx2.Client):
    typing = api.put(f"/presences/{GUEST_CHAT}", json={"presence": "typing", "delay": 0})
    paused = api.put(f"/presences/{GUEST_CHAT}", json={"presence": "pause"})
    invalid = api.put(f"/presences/{GUEST_CHAT}", json={"presence": "dancing"})
    first = api.post(f"/presences/{GUEST}")
    again = api.post(f"/presences/{GUEST}")

    assert typing.status_code == paused.status_code == 200
    assert typing.json() == {"success": True}
    assert invalid.status_code == 400
    assert fake.presences_set == [(GUEST_CHAT, "typing"), (GUEST_CHAT, "pause")]
    assert first.status_code == 200
    assert first.json() == {"success": True}
    assert again.status_code == 409
    assert again.json() == {"error": {"code": 409, "message": "already subscribed"}}
    assert fake.subscriptions == {GUEST}


def test_mark_read(fake: FakeWhapi, api: httpx2.Client):
    response = api.put("/messages/AbCdEfGhIjKlMnO-PqRsTuVwXy")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert fake.read_marks == ["AbCdEfGhIjKlMnO-PqRsTuVwXy"]


def test_media_download(fake: FakeWhapi, api: httpx2.Client):
    fake.add_media("oga-0123abcd-4567ef", b"OggS\x00fake", "audio/ogg; codecs=opus")

    found = api.get("/media/oga-0123abcd-4567ef")
    missing = api.get("/media/oga-ffff")

    assert found.status_code == 200
    assert found.content == b"OggS\x00fake"
    assert found.headers["content-type"] == "audio/ogg; codecs=opus"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404


def test_unknown_route_is_404(api: httpx2.Client):
    response = api.get("/groups")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


def test_messages_list_newest_first_with_paging_and_filters(fake: FakeWhapi, api: httpx2.Client):
    inbound = payloads.text_message(GUEST_CHAT, "Is breakfast included?", timestamp=1)
    fake.add_history(inbound["messages"][0])
    sent = [send(api, f"reply {n}") for n in range(3)]
    send(api, "elsewhere", to="15550009999@s.whatsapp.net")

    everything = api.get(f"/messages/list/{GUEST_CHAT}").json()
    newest_two = api.get(f"/messages/list/{GUEST_CHAT}", params={"count": 2}).json()
    next_page = api.get(f"/messages/list/{GUEST_CHAT}", params={"count": 2, "offset": 2}).json()
    mine = api.get(f"/messages/list/{GUEST_CHAT}", params={"from_me": "true"}).json()
    theirs = api.get(f"/messages/list/{GUEST_CHAT}", params={"from_me": "false"}).json()
    bare = api.get(f"/messages/list/{GUEST}")

    expected_ids = [m["id"] for m in reversed(sent)] + [inbound["messages"][0]["id"]]
    assert [m["id"] for m in everything["messages"]] == expected_ids
    assert (everything["count"], everything["total"], everything["offset"]) == (4, 4, 0)
    assert [m["id"] for m in newest_two["messages"]] == expected_ids[:2]
    assert (newest_two["count"], newest_two["total"]) == (2, 4)
    assert [m["id"] for m in next_page["messages"]] == expected_ids[2:]
    assert next_page["offset"] == 2
    assert [m["id"] for m in mine["messages"]] == expected_ids[:3]
    assert [m["text"]["body"] for m in theirs["messages"]] == ["Is breakfast included?"]
    assert bare.status_code == 400


def test_messages_list_time_window(fake: FakeWhapi, api: httpx2.Client):
    for stamp in (100, 200, 300):
        fake.add_history(
            payloads.text_message(GUEST_CHAT, str(stamp), timestamp=stamp)["messages"][0]
        )

    window = api.get(f"/messages/list/{GUEST_CHAT}", params={"time_from": 150, "time_to": 300})
    bad = api.get(f"/messages/list/{GUEST_CHAT}", params={"count": "many"})

    assert [m["text"]["body"] for m in window.json()["messages"]] == ["300", "200"]
    assert bad.status_code == 400


def test_send_is_echoed_to_the_webhook(fake: FakeWhapi, api: httpx2.Client, receiver: Receiver):
    fake.webhook_url = f"{receiver.url}/hook"
    fake.webhook_headers = {"X-Hook-Secret": "s3"}

    message = send(api, "See you at 3")

    wait_for(lambda: len(fake.webhook_deliveries) == 1)
    [request] = receiver.received
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.header("x-hook-secret") == "s3"
    assert request.json() == {
        "messages": [message],
        "event": {"type": "messages", "event": "post"},
        "channel_id": "FAKE-CHANNEL",
    }
    assert fake.webhook_deliveries == [(request.json(), 200)]


def test_echo_retries_until_200(fake: FakeWhapi, api: httpx2.Client, receiver: Receiver):
    fake.webhook_url = receiver.url
    receiver.script = [503, 503]

    send(api, "hello")

    wait_for(lambda: len(fake.webhook_deliveries) == 3)
    assert [status for _, status in fake.webhook_deliveries] == [503, 503, 200]
    bodies = receiver.bodies()
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]


def test_echo_follows_a_webhook_url_changed_mid_retry(
    fake: FakeWhapi, api: httpx2.Client, receiver: Receiver
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    fake.webhook_url = f"http://127.0.0.1:{dead_port}"

    send(api, "are you there?")
    wait_for(lambda: len(fake.webhook_deliveries) >= 1)
    fake.webhook_url = receiver.url
    # The receiver logs a request before answering it; the fake's log is the settled one.
    wait_for(lambda: fake.webhook_deliveries[-1][1] == 200)

    statuses = [status for _, status in fake.webhook_deliveries]
    assert statuses[0] is None
    assert set(statuses[:-1]) == {None}
    assert len(receiver.received) == 1


def test_no_echo_when_disabled(fake: FakeWhapi, api: httpx2.Client, receiver: Receiver):
    fake.webhook_url = receiver.url
    fake.echo = False

    send(api, "quiet")
    time.sleep(0.2)

    assert receiver.received == []
    assert fake.webhook_deliveries == []


def test_reset_forgets_state_and_abandons_retries(
    fake: FakeWhapi, api: httpx2.Client, receiver: Receiver
):
    fake.webhook_url = receiver.url
    receiver.script = [503] * 20
    send(api, "never acknowledged")
    api.post(f"/presences/{GUEST}")
    fake.add_media("jpeg-00", b"x", "image/jpeg")
    fake.authorised = False
    wait_for(lambda: len(fake.webhook_deliveries) >= 1)

    fake.reset()
    time.sleep(0.3)

    assert (fake.sent, fake.subscriptions, fake.webhook_deliveries) == ([], set(), [])
    assert fake.requests() == []
    assert fake.authorised is True
    assert fake.webhook_url == receiver.url
    assert api.get("/media/jpeg-00").status_code == 404
    assert api.get(f"/messages/list/{GUEST_CHAT}").json()["total"] == 0


def test_stop_abandons_pending_retries(receiver: Receiver):
    receiver.script = [503] * 20
    fake = FakeWhapi(webhook_url=receiver.url, echo_delay=0.0).start()
    headers = {"Authorization": f"Bearer {fake.token}"}
    with httpx2.Client(base_url=fake.url, headers=headers, trust_env=False) as client:
        send(client, "never acknowledged")
    wait_for(lambda: len(fake.webhook_deliveries) >= 1)

    started = time.monotonic()
    fake.stop()

    assert time.monotonic() - started < 2
    attempts = len(fake.webhook_deliveries)
    time.sleep(0.3)
    assert len(fake.webhook_deliveries) == attempts


def test_post_webhook_returns_the_status(fake: FakeWhapi, receiver: Receiver):
    fake.webhook_url = receiver.url
    fake.webhook_headers = {"Authorization": "Bearer hook"}
    receiver.script = [503]
    payload = payloads.text_message(GUEST_CHAT, "Hi, I booked room 12")

    first = fake.post_webhook(payload)
    second = fake.post_webhook(payload)

    assert (first, second) == (503, 200)
    assert [(r.method, r.path) for r in receiver.received] == [("POST", "/"), ("POST", "/")]
    assert receiver.received[0].header("authorization") == "Bearer hook"
    assert receiver.bodies() == [payload, payload]


@pytest.mark.parametrize(
    ("mode", "method", "expected"),
    [
        ("body", "post", ("POST", "/hook")),
        ("body", "patch", ("POST", "/hook")),
        ("path", "post", ("POST", "/hook/messages/post")),
        ("path", "delete", ("POST", "/hook/messages/delete")),
        ("method", "post", ("POST", "/hook/messages")),
        ("method", "patch", ("PATCH", "/hook/messages")),
    ],
)
def test_post_webhook_follows_the_webhook_mode(
    fake: FakeWhapi, receiver: Receiver, mode: str, method: str, expected: tuple[str, str]
):
    fake.webhook_url = f"{receiver.url}/hook"
    fake.webhook_mode = mode
    payload = payloads.envelope("messages", [], "messages", method)

    assert fake.post_webhook(payload) == 200

    [request] = receiver.received
    assert (request.method, request.path) == expected
    assert request.json() == payload


def test_echoes_follow_the_webhook_mode(fake: FakeWhapi, api: httpx2.Client, receiver: Receiver):
    fake.webhook_url = f"{receiver.url}/hook"
    fake.webhook_mode = "method"

    send(api, "method mode")
    wait_for(lambda: len(fake.webhook_deliveries) == 1)
    fake.webhook_mode = "path"
    send(api, "path mode")
    wait_for(lambda: len(fake.webhook_deliveries) == 2)

    assert [(r.method, r.path) for r in receiver.received] == [
        ("POST", "/hook/messages"),
        ("POST", "/hook/messages/post"),
    ]


def test_post_webhook_refuses_an_unknown_mode_or_a_payload_without_its_event(
    fake: FakeWhapi, receiver: Receiver
):
    fake.webhook_url = receiver.url
    fake.webhook_mode = "query"
    with pytest.raises(ValueError, match="not one of body, path, method"):
        fake.post_webhook(payloads.text_message(GUEST_CHAT, "hi"))
    fake.webhook_mode = "path"
    with pytest.raises(ValueError, match="needs the payload's event"):
        fake.post_webhook({"messages": []})
    assert receiver.received == []


def test_post_webhook_without_url_raises(fake: FakeWhapi):
    with pytest.raises(RuntimeError):
        fake.post_webhook({})


def test_injected_fault_replaces_the_answer(fake: FakeWhapi, api: httpx2.Client):
    fake.inject(
        Fault(
            "POST",
            "/messages/text",
            response=json_response(500, {"error": {"code": 500, "message": "boom"}}),
        )
    )

    failed = api.post("/messages/text", json={"to": GUEST_CHAT, "body": "hi"})
    retried = api.post("/messages/text", json={"to": GUEST_CHAT, "body": "hi"})

    assert failed.status_code == 500
    assert failed.json()["error"]["message"] == "boom"
    assert retried.status_code == 201
    assert len(fake.sent) == 1
    assert len(fake.requests("POST", "/messages/text")) == 2


def test_clock_sets_timestamps():
    with FakeWhapi(clock=lambda: 1_700_000_000.5) as fake:
        headers = {"Authorization": f"Bearer {fake.token}"}
        with httpx2.Client(base_url=fake.url, headers=headers, trust_env=False) as client:
            message = send(client, "hi")

    assert message["timestamp"] == 1_700_000_000
    assert fake.sent[0].received_at == 1_700_000_000.5


# Payload builders


def test_new_message_id_matches_whapi_pattern():
    ids = {payloads.new_message_id() for _ in range(50)}

    assert len(ids) == 50
    assert all(ID_PATTERN.match(i) for i in ids)


def test_envelope_shape():
    assert payloads.envelope("chats", [{"id": "x"}], "chats", "patch") == {
        "chats": [{"id": "x"}],
        "event": {"type": "chats", "event": "patch"},
        "channel_id": "FAKE-CHANNEL",
    }


def test_text_message_from_guest():
    payload = payloads.text_message(GUEST_CHAT, "Late check-out?", name="Ines", timestamp=1700)

    assert payload["event"] == {"type": "messages", "event": "post"}
    assert payload["channel_id"] == "FAKE-CHANNEL"
    [message] = payload["messages"]
    assert ID_PATTERN.match(message["id"])
    assert message["text"]["body"] == "Late check-out?"
    assert message["chat_id"] == GUEST_CHAT
    assert message["from"] == GUEST
    assert message["from_me"] is False
    assert message["from_name"] == "Ines"
    assert message["type"] == "text"
    assert message["source"] == "mobile"
    assert message["timestamp"] == 1700
    assert isinstance(payloads.text_message(GUEST_CHAT, "x")["messages"][0]["timestamp"], int)


def test_text_message_from_me_and_context():
    payload = payloads.text_message(
        GUEST_CHAT,
        "typed on the phone",
        message_id="Abcd1234Efgh567-ZyXw987654",
        from_me=True,
        own_number="15550002222",
        context={"quoted_id": "Qqqq1111Wwww222-Eeee333444"},
    )
    [message] = payload["messages"]

    assert message["id"] == "Abcd1234Efgh567-ZyXw987654"
    assert message["from_me"] is True
    assert message["from"] == "15550002222"
    assert message["status"] == "sent"
    assert message["context"] == {"quoted_id": "Qqqq1111Wwww222-Eeee333444"}


def test_voice_and_image_messages():
    voice = payloads.voice_message(GUEST_CHAT, "oga-00aa11bb-22cc", seconds=7)["messages"][0]
    linked = payloads.voice_message(GUEST_CHAT, "oga-1", link="https://files.test/1.oga")
    image = payloads.image_message(GUEST_CHAT, "jpeg-33dd44ee-55ff", caption="Passport")

    assert voice["type"] == "voice"
    assert voice["voice"]["id"] == "oga-00aa11bb-22cc"
    assert voice["voice"]["seconds"] == 7
    assert voice["voice"]["mime_type"] == "audio/ogg; codecs=opus"
    assert "link" not in voice["voice"]
    assert linked["messages"][0]["voice"]["link"] == "https://files.test/1.oga"
    [image_msg] = image["messages"]
    assert image_msg["type"] == "image"
    assert image_msg["image"]["id"] == "jpeg-33dd44ee-55ff"
    assert image_msg["image"]["caption"] == "Passport"
    assert image_msg["from"] == GUEST


def test_group_text_message():
    payload = payloads.group_text_message(
        "120363000000000001@g.us", f"{GUEST}@s.whatsapp.net", "Pool open?", group_name="Floor 2"
    )
    [message] = payload["messages"]

    assert message["chat_id"] == "120363000000000001@g.us"
    assert message["from"] == GUEST
    assert message["chat_name"] == "Floor 2"
    assert message["text"]["body"] == "Pool open?"


def test_presence_payload():
    typing = payloads.presence(GUEST_CHAT, "typing")
    online = payloads.presence(GUEST, "online", last_seen=1234)

    assert typing == {
        "presences": [{"contact_id": GUEST, "status": "typing"}],
        "event": {"type": "presences", "event": "post"},
        "channel_id": "FAKE-CHANNEL",
    }
    assert "@" not in typing["presences"][0]["contact_id"]
    assert online["presences"][0]["last_seen"] == 1234


def test_status_update_payload():
    payload = payloads.status_update("Abcd1234Efgh567-ZyXw987654", "read", GUEST_CHAT, timestamp=99)
    failed = payloads.status_update("Abcd1234Efgh567-ZyXw987654", "failed", GUEST_CHAT, code=7)

    assert payload["event"] == {"type": "statuses", "event": "post"}
    assert payload["statuses"] == [
        {
            "id": "Abcd1234Efgh567-ZyXw987654",
            "code": 4,
            "status": "read",
            "recipient_id": GUEST_CHAT,
            "timestamp": "99",
        }
    ]
    assert failed["statuses"][0]["code"] == 7
    assert isinstance(failed["statuses"][0]["timestamp"], str)


def test_hosted_media_is_served_by_a_fresh_id_and_a_token_free_link(fake: FakeWhapi, api):
    voice_id = fake.host_media(voice_ogg(), VOICE_MIME)
    photo_id = fake.host_media(photo_jpg(), PHOTO_MIME)

    assert re.fullmatch(r"oga-[0-9a-f]{20}-[0-9a-f]{14}", voice_id)
    assert photo_id.startswith("jpeg-")
    by_id = api.get(f"/media/{voice_id}")
    assert (by_id.content, by_id.headers["content-type"]) == (voice_ogg(), VOICE_MIME)
    linked = httpx2.get(fake.media_link(photo_id), trust_env=False)
    assert (linked.status_code, linked.content) == (200, photo_jpg())
    assert httpx2.get(fake.media_link("jpeg-nope"), trust_env=False).status_code == 404


def test_a_voice_note_sent_as_a_data_url_is_recorded_as_bytes(fake: FakeWhapi, api):
    media = "data:audio/ogg;base64," + base64.b64encode(voice_ogg()).decode()
    sent = api.post("/messages/voice", json={"to": GUEST_CHAT, "media": media})
    broken = api.post("/messages/voice", json={"to": GUEST_CHAT, "media": "data:a;base64,@@"})

    assert sent.status_code == 201
    assert broken.status_code == 400
    (record,) = fake.sent
    assert record.media == voice_ogg()
