"""WhapiClient against the fake gateway: how each failure is told apart and counted."""

from __future__ import annotations

import pytest

from conserje.errors import WhapiError
from conserje.metrics import Metrics
from conserje.testing._server import FakeResponse, Fault, json_response
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import free_port
from conserje.whapi.client import WhapiClient

TOKEN = "client-test-token"
GUEST = "34600111222@s.whatsapp.net"


@pytest.fixture
def whapi():
    with FakeWhapi(token=TOKEN, echo=False) as fake:
        yield fake


def failure(status: int, headers: dict | None = None):
    return json_response(status, {"error": {"code": status, "message": "no"}}, headers or {})


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault("POST", "/messages/text", response=failure(503)), ("server", True, True, None)),
        (
            Fault("POST", "/messages/text", response=failure(429, {"retry-after": "7"})),
            ("rate_limited", False, True, 7.0),
        ),
        (Fault("POST", "/messages/text", response=failure(400)), ("refused", False, False, None)),
        (Fault("POST", "/messages/text", delay=0.6), ("timeout", True, True, None)),
        (Fault("POST", "/messages/text", drop=True), ("connection", True, True, None)),
    ],
    ids=["503", "429", "400", "timeout", "dropped"],
)
def test_each_failure_says_whether_it_may_have_sent_and_is_counted(whapi, fault, expected):
    kind, *said = expected
    metrics = Metrics()
    client = WhapiClient(
        whapi.url,
        TOKEN,
        timeout=0.3,
        on_error=lambda k: metrics.whapi_errors.labels(k).inc(),
    )
    whapi.inject(fault)
    with pytest.raises(WhapiError) as caught:
        client.send_text(GUEST, "hola")
    error = caught.value
    assert [error.ambiguous, error.retryable, error.retry_after] == said
    assert metrics.registry.get_sample_value("conserje_whapi_errors_total", {"error": kind}) == 1
    assert (
        sum(
            metrics.registry.get_sample_value("conserje_whapi_errors_total", {"error": k}) or 0
            for k in ("connection", "timeout", "unauthorized", "rate_limited", "refused", "server")
        )
        == 1
    )
    client.send_text(GUEST, "hola")  # the next call is not affected
    client.close()


@pytest.mark.parametrize(
    "answer",
    [
        json_response(200, {"sent": True}),
        FakeResponse(200, b"<html>ok</html>", "text/html"),
    ],
    ids=["no-id", "not-json"],
)
def test_a_send_whapi_took_but_answered_unreadably_may_have_sent(whapi, answer):
    client = WhapiClient(whapi.url, TOKEN, timeout=5)
    whapi.inject(Fault("POST", "/messages/text", response=answer, taken=True))

    with pytest.raises(WhapiError) as caught:
        client.send_text(GUEST, "hola")

    # Whapi answered 2xx: the message went, so it must be looked for, never resent blindly.
    assert [m.body for m in whapi.sent] == ["hola"]
    assert (caught.value.ambiguous, caught.value.retryable) == (True, True)
    client.close()


MEDIA = b"OggS" + b"\x00" * 4000


def by_id(limit: int = 10_000):
    return lambda client, whapi, media_id: client.get_media(media_id, max_bytes=limit, timeout=0.3)


def by_link(client, whapi, media_id):
    return client.get_link(whapi.media_link(media_id), max_bytes=10_000, timeout=0.3)


def by_private_link(client, whapi, media_id):
    return client.get_link("http://10.0.0.1/x.ogg", max_bytes=10_000, timeout=0.3)


@pytest.mark.parametrize(
    ("setup", "fetch"),
    [
        (lambda w: w.inject(Fault("GET", "/media/", response=failure(404))), by_id()),
        (lambda w: w.inject(Fault("GET", "/media/", response=failure(502))), by_id()),
        (lambda w: w.inject(Fault("GET", "/media/", drop=True)), by_id()),
        (lambda w: w.inject(Fault("GET", "/media/", delay=0.6)), by_id()),
        (lambda w: setattr(w, "authorised", False), by_id()),
        (lambda w: None, by_id(limit=100)),
        (lambda w: w.inject(Fault("GET", "/files/", response=failure(404))), by_link),
        (lambda w: None, by_private_link),
    ],
    ids=[
        "404",
        "502",
        "dropped",
        "timeout",
        "unauthorised",
        "too-large",
        "link-404",
        "link-refused",
    ],
)
def test_a_failed_media_download_is_counted_as_one_media_download_error(whapi, setup, fetch):
    metrics = Metrics()
    client = WhapiClient(
        whapi.url, TOKEN, timeout=5.0, on_error=lambda k: metrics.whapi_errors.labels(k).inc()
    )
    media_id = whapi.host_media(MEDIA, "audio/ogg")
    setup(whapi)

    with pytest.raises(WhapiError):
        fetch(client, whapi, media_id)

    counted = {
        k: metrics.registry.get_sample_value("conserje_whapi_errors_total", {"error": k})
        for k in ("media_download", "connection", "timeout", "unauthorized", "server", "refused")
    }
    assert counted == {
        "media_download": 1.0,
        "connection": 0.0,
        "timeout": 0.0,
        "unauthorized": 0.0,
        "server": 0.0,
        "refused": 0.0,
    }
    client.close()


def test_a_media_download_that_succeeds_counts_nothing(whapi):
    metrics = Metrics()
    client = WhapiClient(whapi.url, TOKEN, on_error=lambda k: metrics.whapi_errors.labels(k).inc())
    media_id = whapi.host_media(MEDIA, "audio/ogg")

    assert client.get_media(media_id, max_bytes=10_000, timeout=5) == MEDIA
    assert client.get_link(whapi.media_link(media_id), max_bytes=10_000, timeout=5) == MEDIA
    sample = metrics.registry.get_sample_value
    assert sample("conserje_whapi_errors_total", {"error": "media_download"}) == 0
    client.close()


def test_an_unauthorised_channel_is_named_as_such(whapi):
    metrics = Metrics()
    client = WhapiClient(whapi.url, TOKEN, on_error=lambda k: metrics.whapi_errors.labels(k).inc())
    whapi.authorised = False
    with pytest.raises(WhapiError, match="not authorised") as caught:
        client.send_text(GUEST, "hola")
    assert caught.value.status == 401
    assert caught.value.retryable is False
    sample = metrics.registry.get_sample_value
    assert sample("conserje_whapi_errors_total", {"error": "unauthorized"}) == 1
    client.close()


def test_a_server_that_is_not_there_never_got_the_request():
    client = WhapiClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=1.0)
    with pytest.raises(WhapiError) as caught:
        client.send_text(GUEST, "hola")
    assert (caught.value.ambiguous, caught.value.retryable) == (False, True)
    client.close()
