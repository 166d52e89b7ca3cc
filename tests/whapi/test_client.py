"""WhapiClient against the fake gateway: how each failure is told apart and counted."""

from __future__ import annotations

import pytest

from conserje.errors import WhapiError
from conserje.metrics import Metrics
from conserje.testing._server import Fault, json_response
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
