"""Hostile clients on raw sockets against the real server: huge bodies, slow-loris, fuzzing.

Oversized bodies must be refused while the client is still sending, so the server never
holds more than ``WEBHOOK_MAX_BYTES`` of them; clients that trickle bytes must not keep a
webhook out; hostile webhook bodies must never get a 5xx or damage the journal.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest
from hypothesis import given

from conserje.testing import payloads
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.wait import wait_for
from tests.audit.conftest import run_log
from tests.e2e.conftest import settle
from tests.e2e.test_metrics import Scrape
from tests.http.hostile import ANSWERS, CHAT, Delivery, deliveries, fuzz_settings

pytestmark = pytest.mark.e2e

LIMIT = 65_536
DECLARED = 100_000_000
HEAD = b"POST /hook HTTP/1.1\r\nHost: conserje\r\nContent-Type: application/json\r\n"


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_until_answered(
    sock: socket.socket, chunks: Iterator[bytes], cap: int
) -> tuple[int, bytes]:
    """Send chunks until the server answers (or ``cap`` bytes went); return bytes sent, answer."""
    sent = 0
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0] or sent >= cap:
                break
            sock.sendall(chunk)
            sent += len(chunk)
    try:
        return sent, sock.recv(4096)
    except ConnectionResetError:
        return sent, b""


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def forever(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


@pytest.fixture
def small_server(make_server):
    with make_server(WEBHOOK_MAX_BYTES=str(LIMIT)) as server:
        yield server


def test_a_body_declared_too_large_is_refused_while_it_is_still_being_sent(small_server):
    with connect(small_server.port) as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % DECLARED)
        sent, answer = send_until_answered(sock, forever(b"x" * 16_384), cap=DECLARED)

    assert status_of(answer) == 413
    # Kernel buffers take a few MB; the server read no more than its limit of them.
    assert sent < DECLARED // 10
    assert small_server.journal() == []


def test_a_chunked_body_that_grows_past_the_limit_is_refused_while_it_grows(small_server):
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    cap = 64 * 1024 * 1024
    with connect(small_server.port) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        sent, answer = send_until_answered(sock, forever(chunk), cap=cap)

    assert status_of(answer) == 413
    assert sent < cap
    assert small_server.get("/health").json()["status"] == "ok"


def test_bodies_refused_before_the_app_runs_are_still_counted(small_server):
    before = Scrape(small_server)
    for head in (
        HEAD + b"Content-Length: %d\r\n\r\n" % DECLARED,
        HEAD + b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % DECLARED,
        HEAD.replace(b"/hook", b"/hook/some-token") + b"Transfer-Encoding: chunked\r\n\r\n",
        HEAD.replace(b"/hook", b"/chats/x/pause") + b"Content-Length: %d\r\n\r\n" % DECLARED,
    ):
        with connect(small_server.port) as sock:
            sock.sendall(head)
            _, answer = send_until_answered(sock, forever(b"1\r\nx\r\n" * 2000), cap=DECLARED)
            assert status_of(answer) == 413

    after = Scrape(small_server)
    # Three webhooks; the pause is no webhook.
    assert (
        after("conserje_webhooks_total", outcome="too_large")
        - before("conserje_webhooks_total", outcome="too_large")
        == 3
    )


def test_expect_continue_with_a_body_over_the_limit_gets_413_and_no_invitation(small_server):
    with connect(small_server.port) as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % DECLARED)
        answer = sock.recv(4096)

    # Saying "100 Continue" first would ask the client to send the 100 MB it announced.
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_expect_continue_with_a_body_within_the_limit_is_invited_and_journaled(small_server):
    body = httpx2.Request("POST", "/", json=payloads.text_message(CHAT, "hola")).read()
    with connect(small_server.port) as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = sock.recv(4096)

    assert status_of(answer) == 200
    assert [e["text"] for e in small_server.events("message_received")] == ["hola"]


def test_a_webhook_gets_in_while_many_slow_clients_hang_on(make_server, whapi_fake):
    slow_clients = 150  # more than Waitress's default connection limit (100)
    with make_server(HTTP_READ_TIMEOUT_MS="60000") as server, contextlib.ExitStack() as stack:
        socks = [stack.enter_context(connect(server.port)) for _ in range(slow_clients)]
        for n, sock in enumerate(socks):
            # Half stop in the headers, half in the body.
            sock.sendall(HEAD if n % 2 else HEAD + b"Content-Length: 5000\r\n\r\n{")

        def trickle() -> None:
            for sock in socks:
                sock.sendall(b"x")

        trickle()
        assert whapi_fake.post_webhook(payloads.text_message(CHAT, "hola")) == 200
        trickle()  # they are all still connected, none answered

        assert server.get("/health").status_code == 200
        assert [e["text"] for e in server.events("message_received")] == ["hola"]
        assert not select.select(socks, [], [], 0)[0]


def test_a_client_that_trickles_bytes_is_cut_off_after_the_read_timeout(make_server):
    with make_server(HTTP_READ_TIMEOUT_MS="2000") as server, connect(server.port) as sock:
        sock.sendall(b"POST /hook HTTP/1.1\r\n")
        began = time.monotonic()

        def cut_off() -> bool:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"X")
                if not select.select([sock], [], [], 0.3)[0]:
                    return False
                return sock.recv(4096) == b""
            return True

        # Each byte is activity: without the read deadline it would stay open for ever.
        wait_for(cut_off, timeout=30, what="the trickling client is disconnected")
        assert time.monotonic() - began >= 2
        assert server.get("/health").status_code == 200


def test_hostile_webhooks_against_the_real_server_get_no_5xx_and_lose_nothing(
    make_server, whapi_fake
):
    acknowledged: list[str] = []
    with make_server(BUFFER_WINDOW_MS="600000", BUFFER_MAX_MESSAGES="10000") as server:

        @fuzz_settings(60)
        @given(deliveries)
        def post(delivery: Delivery) -> None:
            answer = server.post(
                "/hook", content=delivery.body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:300])
            if answer.status_code == 200 and delivery.marker is not None:
                acknowledged.append(delivery.marker)

        post()
        assert server.get("/health").json()["status"] == "ok"
        # Chat ids from webhooks never steer a call to another Whapi endpoint.
        called = {r.path.split("/")[1] for r in whapi_fake.requests()}
        assert called <= {"presences", "messages"}, called
        # No handler failed on the way (actors log a traceback when one does).
        assert "Traceback" not in server.log_text()
        server.kill()  # a crash right after: every 200 must already be on disk

    verify = run_log("verify", CONSERJE_DATA_DIR=str(server.data_dir))
    assert verify.returncode == 0, verify.stdout
    journaled = {e["message_id"] for e in server.events("message_received")}
    assert acknowledged
    assert not set(acknowledged) - journaled


def test_a_photo_linked_to_an_internal_address_is_never_fetched(make_server, whapi_fake):
    with FakeWhapi(token="internal") as internal, make_server() as server:
        media_id = internal.host_media(b"\xff\xd8internal secrets", "image/jpeg")
        # Whapi does not serve the id, so the server falls back to the webhook's link.
        photo = payloads.image_message(CHAT, media_id, link=internal.media_link(media_id))
        assert whapi_fake.post_webhook(photo) == 200
        settle(server, whapi_fake, turns=1)

        assert internal.requests() == []
        (failed,) = server.events("media_failed")
        assert failed["stage"] == "download"
        assert "private or local" in failed["error"]
