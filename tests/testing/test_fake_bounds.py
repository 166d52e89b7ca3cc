"""The fakes remember only their newest records, so a demo left running does not grow.

Each kind of record (requests, sends, runs...) keeps the newest ``log_limit``; the
readers answer as before, with the oldest gone.
"""

from __future__ import annotations

import httpx2
import openai
import pytest
from openai import OpenAI

from conserje.testing import payloads
from conserje.testing._server import REQUEST_LOG_LIMIT
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.samples import VOICE_MIME, voice_ogg
from conserje.testing.wait import wait_for
from tests.testing.test_fake_whapi import Receiver

LIMIT = 3
ROUNDS = 7
CHAT = "15557654321@s.whatsapp.net"


def test_the_default_limit_is_documented_and_applies_to_both_fakes():
    assert REQUEST_LOG_LIMIT == 10_000
    assert FakeWhapi().log_limit == FakeOpenAI().log_limit == REQUEST_LOG_LIMIT


def test_fake_whapi_keeps_the_newest_of_each_record():
    with (
        Receiver() as receiver,
        FakeWhapi(token="t", log_limit=LIMIT, echo_delay=0.0) as fake,
        httpx2.Client(
            base_url=fake.url, headers={"Authorization": "Bearer t"}, trust_env=False
        ) as http,
    ):
        fake.webhook_url = f"{receiver.url}/hook"
        media = [fake.host_media(voice_ogg() + bytes([n]), VOICE_MIME) for n in range(ROUNDS)]
        for n in range(ROUNDS):
            sent = http.post("/messages/text", json={"to": CHAT, "body": f"text {n}"})
            assert sent.status_code == 201
            # One echo at a time, so the deliveries' order is the sends'.
            wait_for(lambda n=n: len(receiver.received) == n + 1, what=f"echo {n}")
            http.put(f"/presences/{CHAT}", json={"presence": "typing"})
            http.put(f"/messages/m{n}")
            fake.add_history(payloads.message(CHAT, "text", {"body": f"guest {n}"}))
        listed = http.get(f"/messages/list/{CHAT}", params={"count": 100}).json()["messages"]
        first_media, last_media = http.get(f"/media/{media[0]}"), http.get(f"/media/{media[-1]}")

        assert [m.body for m in fake.sent] == ["text 4", "text 5", "text 6"]
        assert [m.body for m in fake.sent_to(CHAT)] == ["text 4", "text 5", "text 6"]
        assert [r.path for r in fake.requests()] == [
            f"/messages/list/{CHAT}",
            f"/media/{media[0]}",
            f"/media/{media[-1]}",
        ]
        assert fake.read_marks == ["m4", "m5", "m6"]
        assert fake.presences_set == [(CHAT, "typing")] * LIMIT
        assert [p["messages"][0]["text"]["body"] for p, _ in fake.webhook_deliveries] == [
            "text 4",
            "text 5",
            "text 6",
        ]
        assert sorted(m["text"]["body"] for m in listed) == ["guest 5", "guest 6", "text 6"]
        assert (first_media.status_code, last_media.status_code) == (404, 200)
        assert last_media.content == voice_ogg() + bytes([ROUNDS - 1])


def test_fake_openai_keeps_the_newest_of_each_record():
    with FakeOpenAI(log_limit=LIMIT) as fake:
        sdk = OpenAI(
            api_key="test", base_url=fake.base_url, _strict_response_validation=True, max_retries=0
        )
        fake.audio.default_transcript = "hola"
        created = []
        for n in range(ROUNDS):
            created.append(sdk.responses.create(model="m", input=f"hola {n}").id)
            sdk.audio.transcriptions.create(
                model="t", file=(f"voice{n}.ogg", voice_ogg(), "audio/ogg")
            )
            sdk.audio.speech.create(model="s", voice="marin", input=f"adios {n}")
            sdk.post(
                "/responses/compact",
                body={"model": "m", "input": [{"role": "user", "content": f"compact {n}"}]},
                cast_to=object,
            )

        assert [body["input"] for body in fake.created()] == ["hola 4", "hola 5", "hola 6"]
        assert fake.response_ids() == created[-LIMIT:]
        assert sdk.responses.retrieve(created[-1]).status == "completed"
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created[0])
        assert [t.filename for t in fake.audio.transcriptions()] == [
            "voice4.ogg",
            "voice5.ogg",
            "voice6.ogg",
        ]
        assert [s.input for s in fake.audio.speeches()] == ["adios 4", "adios 5", "adios 6"]
        assert [c["input"][0]["content"] for c in fake.compactions()] == [
            "compact 4",
            "compact 5",
            "compact 6",
        ]
        assert len(fake.requests()) == LIMIT
        assert [r.path for r in fake.requests()][-1] == "/v1/responses/" + created[0]
        sdk.close()
