"""Voice notes and photos through the real server and the fakes."""

from __future__ import annotations

import base64
import http.client
import io
import json
import random

import pytest
from PIL import Image

from conserje.media.ogg import opus_seconds
from conserje.testing import payloads
from conserje.testing._server import Fault, json_response
from conserje.testing.samples import PHOTO_MIME, VOICE_MIME, photo_jpg, voice_ogg
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34633444777@s.whatsapp.net"
SAID = "hola, ¿tenéis sitio para dos el viernes?"
NOT_TRANSCRIBED = "the guest sent a voice note that could not be transcribed"


def journal_text(server) -> str:
    segments = sorted(server.journal_dir.glob("*.jsonl"))
    return "".join(p.read_text(encoding="utf-8") for p in segments)


def data_url_bytes(url: str) -> bytes:
    head, _, encoded = url.partition(";base64,")
    assert head.startswith("data:image/")
    return base64.b64decode(encoded)


def noisy_jpeg(side: int) -> bytes:
    """A photo that JPEG cannot shrink much: random pixels."""
    rng = random.Random(7)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_a_voice_note_is_transcribed_and_answered_in_text(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    with make_server() as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (upload,) = openai_fake.audio.transcriptions()
        assert upload.data == voice_ogg()
        assert (upload.model, upload.filename) == ("gpt-transcribe", "voice.ogg")
        (reply,) = whapi_fake.sent
        assert reply.type == "text"
        assert SAID in reply.body
        (transcribed,) = server.events("media_transcribed")
        assert transcribed["transcript"] == SAID
        assert transcribed["size"] == len(voice_ogg())
        assert [r.path for r in whapi_fake.requests("GET", "/media/")] == [f"/media/{media_id}"]
        # The journal names the bytes, never holds them.
        journal = journal_text(server)
        assert base64.b64encode(voice_ogg()[:30]).decode()[:20] not in journal
        assert "OggS" not in journal
        stored = server.data_dir / "media" / transcribed["file"]
        assert stored.read_bytes() == voice_ogg()


def test_a_voice_note_is_fetched_from_its_link_when_whapi_does_not_serve_it(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    whapi_fake.inject(Fault("GET", "/media/", response=json_response(404, {}), times=5))
    with make_server() as server:
        link = whapi_fake.media_link(media_id)
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id, link=link))
        settle(server, whapi_fake, turns=1)

        (reply,) = whapi_fake.sent
        assert SAID in reply.body
        (fetched,) = whapi_fake.requests("GET", "/files/")
        assert fetched.header("authorization") is None
        metrics = server.get("/metrics").text
        assert 'conserje_whapi_errors_total{error="media_download"} 1.0' in metrics


def test_a_failed_transcription_becomes_a_note_in_the_turn(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.inject(
        Fault("POST", "/v1/audio/transcriptions", response=json_response(500, {}), times=5)
    )
    with make_server() as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (failed,) = server.events("media_failed")
        assert (failed["stage"], failed["note"]) == ("transcription", NOT_TRANSCRIBED)
        (created,) = openai_fake.created()
        assert NOT_TRANSCRIBED in json.dumps(created["input"])
        (reply,) = whapi_fake.sent
        assert NOT_TRANSCRIBED in reply.body
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"
        metrics = server.get("/metrics").text
        assert 'conserje_media_transcriptions_total{outcome="failed"} 1.0' in metrics


def test_a_transcription_that_hangs_is_given_up_within_the_media_timeout(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    openai_fake.inject(Fault("POST", "/v1/audio/transcriptions", delay=8.0))
    with make_server(MEDIA_TIMEOUT_MS="1500") as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (failed,) = server.events("media_failed")
        assert (failed["stage"], failed["timed_out"]) == ("transcription", True)
        assert failed["note"] == NOT_TRANSCRIBED
        (received,) = server.events("message_received")
        (started,) = server.events("turn_started")
        # The turn waited for the transcription only as long as the bound allows.
        assert started["ts"] - received["ts"] < 6.0
        (reply,) = whapi_fake.sent
        assert NOT_TRANSCRIBED in reply.body


def test_a_photo_with_caption_reaches_the_model_as_an_input_image(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(photo_jpg(), PHOTO_MIME)
    with make_server() as server:
        whapi_fake.post_webhook(
            payloads.image_message(GUEST, media_id, caption="El grifo del baño gotea")
        )
        settle(server, whapi_fake, turns=1)

        (image,) = openai_fake.input_parts("input_image")
        assert data_url_bytes(image["image_url"]) == photo_jpg()
        (reply,) = whapi_fake.sent
        assert "El grifo del baño gotea" in reply.body
        (stored,) = server.events("media_stored")
        assert (stored["size"], stored["downscaled"]) == (len(photo_jpg()), False)
        assert "/9j/" not in journal_text(server)


def test_an_oversize_photo_is_downscaled_before_the_model_sees_it(
    make_server, whapi_fake, openai_fake
):
    big = noisy_jpeg(2600)
    media_id = whapi_fake.host_media(big, PHOTO_MIME)
    with make_server(MEDIA_IMAGE_MAX_BYTES="400000", THREAD_TOKEN_THRESHOLD="0") as server:
        whapi_fake.post_webhook(payloads.image_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        assert len(big) > 400_000
        (image,) = openai_fake.input_parts("input_image")
        sent = data_url_bytes(image["image_url"])
        assert len(sent) <= 400_000
        assert max(Image.open(io.BytesIO(sent)).size) <= 2048
        (stored,) = server.events("media_stored")
        assert stored["downscaled"] is True


def test_a_file_that_is_not_an_image_is_refused_with_a_note(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(b"\x00not an image at all" * 50, PHOTO_MIME)
    with make_server() as server:
        whapi_fake.post_webhook(payloads.image_message(GUEST, media_id, caption="mi DNI"))
        settle(server, whapi_fake, turns=1)

        assert openai_fake.input_parts("input_image") == []
        (failed,) = server.events("media_failed")
        assert failed["note"] == "the guest sent a photo that could not be opened"
        (reply,) = whapi_fake.sent
        assert "could not be opened" in reply.body
        assert "mi DNI" in reply.body


def raw_get(server, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` exactly as written: no client-side normalising of dots or escapes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_audio_serves_spoken_replies_and_nothing_else(make_server, tmp_path):
    server = make_server()
    audio = server.data_dir / "audio"
    audio.mkdir(parents=True)
    (audio / "voice_1733400000000_1.ogg").write_bytes(voice_ogg())
    (audio / "voice_1733400000000_2.mp3").write_bytes(b"ID3 mp3 bytes")
    (server.data_dir / "secret.ogg").write_bytes(b"not for you")
    with server:
        status, headers, body = raw_get(server, "/audio/voice_1733400000000_1.ogg")
        assert (status, headers["content-type"], body) == (200, "audio/ogg", voice_ogg())
        assert headers["cache-control"] == "no-cache, no-store, must-revalidate"
        status, headers, _ = raw_get(server, "/audio/voice_1733400000000_2.mp3")
        assert (status, headers["content-type"]) == (200, "audio/mpeg")

        assert raw_get(server, "/audio/voice_1733400000000_9.ogg")[0] == 404
        for bad in (
            "/audio/../secret.ogg",
            "/audio/..%2Fsecret.ogg",
            "/audio/..%2fsecret.ogg",
            "/audio/%2E%2E%2Fsecret.ogg",
            "/audio/voice_1_1.ogg%2F..%2F..%2Fsecret.ogg",
            "/audio/%2Fetc%2Fpasswd",
            "/audio//etc/passwd",
            "/audio/" + str(server.data_dir / "secret.ogg"),
            "/audio/voice_1_1.ogg/../../secret.ogg",
            "/audio/voice_" + "1" * 300 + "_1.ogg",
            "/audio/voice_1_1.wav",
            "/audio/voice_1_1.ogg.bak",
            "/audio/voice_a_1.ogg",
            "/audio/.voice_1_1.ogg",
            "/audio/secret.ogg",
        ):
            status, _, body = raw_get(server, bad)
            assert status == 400, bad
            assert b"not for you" not in body


VOICE_ON = {"VOICE_REPLIES": "true"}


def test_a_voice_note_is_answered_with_a_voice_note(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    with make_server(**VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (note,) = whapi_fake.sent
        assert note.type == "voice"
        assert opus_seconds(note.media) is not None
        (speech,) = openai_fake.audio.speeches()
        assert SAID in speech.input
        assert (speech.model, speech.voice, speech.response_format) == (
            "gpt-4o-mini-tts",
            "marin",
            "opus",
        )
        (sent,) = server.events("reply_sent")
        assert sent["audio"]
        status, headers, body = raw_get(server, f"/audio/{sent['audio']}")
        assert (status, headers["content-type"], body) == (200, "audio/ogg", note.media)
        # "recording..." shows before the note arrives.
        calls = [
            (r.method, r.path, (r.json() or {}).get("presence"))
            for r in whapi_fake.requests()
            if r.path.startswith(("/presences/", "/messages/voice"))
        ]
        recording = calls.index(("PUT", f"/presences/{GUEST}", "recording"))
        assert recording < calls.index(("POST", "/messages/voice", None))
        assert 'conserje_voice_replies_total{outcome="sent"} 1.0' in server.get("/metrics").text


def whapi_error(status: int, headers: dict[str, str] | None = None):
    return json_response(status, {"error": {"code": status, "message": "busy"}}, headers)


@pytest.mark.parametrize(
    "case",
    [
        (Fault("POST", "/messages/voice", response=whapi_error(503)), "server", True),
        (
            Fault("POST", "/messages/voice", response=whapi_error(429, {"Retry-After": "0.2"})),
            "rate_limited",
            False,
        ),
        (Fault("POST", "/messages/voice", drop=True), "connection", True),
    ],
    ids=["503", "429", "dropped"],
)
def test_a_voice_note_whapi_did_not_take_is_sent_again_once(
    make_server, whapi_fake, openai_fake, case
):
    fault, error, looked_first = case
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    whapi_fake.inject(fault)
    with make_server(WHAPI_TIMEOUT_MS="500", **VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (note,) = whapi_fake.sent
        assert note.type == "voice"
        assert len(whapi_fake.requests("POST", "/messages/voice")) == 2
        # After a failure that may have sent it, Whapi's list is read before the resend.
        assert bool(whapi_fake.requests("GET", "/messages/list/")) is looked_first
        (sent,) = server.events("reply_sent")
        assert (sent["whapi_id"], sent["reconciled"]) == (note.id, False)
        assert sent["audio"]
        assert server.events("voice_fallback") == []
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"
        metrics = server.get("/metrics").text
        assert f'conserje_whapi_errors_total{{error="{error}"}} 1.0' in metrics
        assert 'conserje_voice_replies_total{outcome="sent"} 1.0' in metrics


def test_a_voice_note_that_timed_out_but_reached_whapi_is_not_sent_twice(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    # Whapi takes the note after the client gave up on it: the send looks failed.
    whapi_fake.inject(Fault("POST", "/messages/voice", delay=1.2))
    with make_server(WHAPI_TIMEOUT_MS="1000", **VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (note,) = whapi_fake.sent
        assert note.type == "voice"
        assert len(whapi_fake.requests("POST", "/messages/voice")) == 1
        assert whapi_fake.requests("GET", "/messages/list/")
        (sent,) = server.events("reply_sent")
        assert (sent["whapi_id"], sent["reconciled"]) == (note.id, True)
        assert sent["audio"]
        assert server.events("voice_fallback") == []
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"
        metrics = server.get("/metrics").text
        assert 'conserje_whapi_errors_total{error="timeout"} 1.0' in metrics


def test_a_voice_note_whapi_took_but_answered_without_its_id_is_not_sent_twice(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    # Whapi takes the note, but its 200 does not say the note's id.
    whapi_fake.inject(
        Fault("POST", "/messages/voice", response=json_response(200, {"sent": True}), taken=True)
    )
    with make_server(WHAPI_TIMEOUT_MS="500", **VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (note,) = whapi_fake.sent
        assert note.type == "voice"
        assert len(whapi_fake.requests("POST", "/messages/voice")) == 1
        (sent,) = server.events("reply_sent")
        assert (sent["whapi_id"], sent["reconciled"]) == (note.id, True)
        assert server.events("voice_fallback") == []
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"


def test_a_voice_note_that_may_have_gone_is_not_followed_by_text_when_whapi_cannot_say(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    # Whapi takes the note after the client gave up on it, then refuses to list messages.
    whapi_fake.inject(Fault("POST", "/messages/voice", delay=1.2))
    whapi_fake.inject(Fault("GET", "/messages/list/", response=whapi_error(404), times=2))
    with make_server(WHAPI_TIMEOUT_MS="1000", **VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        # The note went: the reply must not also go as text (never both).
        assert [m.type for m in whapi_fake.sent] == ["voice"]
        assert server.events("voice_fallback") == []
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "failed"


def test_a_reply_with_a_price_goes_as_text_even_to_a_voice_note(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), "¿cuánto cuesta la doble?")
    openai_fake.reply = lambda body: "La doble cuesta 95 € la noche."
    with make_server(**VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        assert [(m.type, m.body) for m in whapi_fake.sent] == [
            ("text", "La doble cuesta 95 € la noche.")
        ]
        assert openai_fake.audio.speeches() == []
        (fallback,) = server.events("voice_fallback")
        assert fallback["reason"] == "withheld"


@pytest.mark.parametrize("failure", ["speech_error", "not_ogg", "whapi_refuses"])
def test_when_speech_fails_the_reply_goes_as_text_once(
    make_server, whapi_fake, openai_fake, failure
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    if failure == "speech_error":
        openai_fake.inject(Fault("POST", "/v1/audio/speech", response=json_response(500, {})))
    elif failure == "not_ogg":
        openai_fake.audio.speech_bytes = lambda speech: b"ID3\x04" + b"\xff\xfb" * 200
    else:
        refusal = json_response(415, {"error": {"code": 415, "message": "Unsupported media"}})
        whapi_fake.inject(Fault("POST", "/messages/voice", response=refusal))
    with make_server(**VOICE_ON) as server:
        whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
        settle(server, whapi_fake, turns=1)

        (reply,) = whapi_fake.sent
        assert reply.type == "text"
        assert SAID in reply.body
        (fallback,) = server.events("voice_fallback")
        assert fallback["reason"] == "failed"
        (turn,) = server.events("turn_finished")
        assert turn["outcome"] == "replied"
        metrics = server.get("/metrics").text
        assert 'conserje_voice_replies_total{outcome="failed"} 1.0' in metrics
        assert 'conserje_voice_replies_total{outcome="sent"} 0.0' in metrics


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_a_pdf_reaches_the_model_as_an_input_file(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(PDF, "application/pdf")
    with make_server() as server:
        whapi_fake.post_webhook(
            payloads.document_message(GUEST, media_id, file_name="factura.pdf", caption="pago")
        )
        settle(server, whapi_fake, turns=1)

        (part,) = openai_fake.input_parts("input_file")
        assert part["filename"] == "factura.pdf"
        head, _, encoded = part["file_data"].partition(";base64,")
        assert (head, base64.b64decode(encoded)) == ("data:application/pdf", PDF)
        (reply,) = whapi_fake.sent
        assert "(document factura.pdf) pago" in reply.body


def test_without_file_input_a_pdf_is_acknowledged_with_a_note(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(PDF, "application/pdf")
    with make_server(OPENAI_FILE_INPUT="false") as server:
        whapi_fake.post_webhook(payloads.document_message(GUEST, media_id, file_name="f.pdf"))
        settle(server, whapi_fake, turns=1)

        assert openai_fake.input_parts("input_file") == []
        assert whapi_fake.requests("GET", "/media/") == []
        (failed,) = server.events("media_failed")
        assert failed["note"] == "the guest sent a document that cannot be read here (f.pdf)"
        (reply,) = whapi_fake.sent
        assert "cannot be read here" in reply.body


def test_a_crash_while_transcribing_loses_nothing(make_server, whapi_fake, openai_fake):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    openai_fake.inject(Fault("POST", "/v1/audio/transcriptions", delay=10.0))
    server = make_server().start()
    whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
    wait_for(
        lambda: openai_fake.requests("POST", "/v1/audio/transcriptions"),
        timeout=20,
        what="a transcription in flight",
    )
    server.kill()
    assert server.events("media_transcribed") == []

    with server.restart():
        settle(server, whapi_fake, turns=1)

        (transcribed,) = server.events("media_transcribed")
        assert transcribed["transcript"] == SAID
        (reply,) = whapi_fake.sent
        assert SAID in reply.body


def test_a_crash_while_a_voice_note_is_sent_never_sends_it_twice(
    make_server, whapi_fake, openai_fake
):
    media_id = whapi_fake.host_media(voice_ogg(), VOICE_MIME)
    openai_fake.audio.add_transcript(voice_ogg(), SAID)
    whapi_fake.inject(Fault("POST", "/messages/voice", delay=3.0))
    server = make_server(**VOICE_ON).start()
    whapi_fake.post_webhook(payloads.voice_message(GUEST, media_id))
    wait_for(
        lambda: whapi_fake.requests("POST", "/messages/voice"), timeout=20, what="a voice send"
    )
    server.kill()
    wait_for(lambda: whapi_fake.sent, timeout=10, what="the interrupted send landing at Whapi")

    with server.restart():
        settle(server, whapi_fake, turns=1)

        (note,) = whapi_fake.sent
        assert note.type == "voice"
        (sent,) = server.events("reply_sent")
        assert sent["reconciled"] is True
        assert sent["audio"]
