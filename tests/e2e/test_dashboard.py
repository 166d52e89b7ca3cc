"""The dashboard of the real server: its stream never starves webhooks, nor holds up a stop."""

from __future__ import annotations

import concurrent.futures

import httpx2
import pytest

from conserje.http.live import MAX_STREAMS
from conserje.testing import payloads
from conserje.testing.process import ServerProcess
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle
from tests.sse import Message, parse

pytestmark = pytest.mark.e2e

GUEST = "34655000111@s.whatsapp.net"


class Stream:
    """One open ``GET /dashboard/events``, read as it arrives."""

    def __init__(self, server: ServerProcess) -> None:
        self._client = httpx2.Client(base_url=server.url, timeout=15.0, trust_env=False)
        self.response = self._client.send(
            self._client.build_request("GET", "/dashboard/events"), stream=True
        )
        self._chunks = self.response.iter_bytes() if self.response.status_code == 200 else iter(())
        self.text = ""

    def read_until(self, enough) -> list[Message]:
        """Read until ``enough(messages)`` holds (the read timeout bounds each wait)."""
        while not enough(parse(self.text)[0]):
            self.text += next(self._chunks).decode()
        return parse(self.text)[0]

    def read_to_end(self) -> str:
        for chunk in self._chunks:
            self.text += chunk.decode()
        return self.text

    def close(self) -> None:
        self.response.close()
        self._client.close()


def test_webhooks_are_answered_while_the_most_streams_are_open(make_server, whapi_fake):
    with make_server() as server:
        streams = [Stream(server) for _ in range(MAX_STREAMS)]
        try:
            assert [s.response.status_code for s in streams] == [200] * MAX_STREAMS
            refused = Stream(server)
            assert refused.response.status_code == 503
            assert refused.response.headers["retry-after"] == "5"
            refused.close()

            guests = [f"3465500{n:04d}@s.whatsapp.net" for n in range(12)]
            with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
                answers = list(
                    pool.map(
                        lambda chat: whapi_fake.post_webhook(payloads.text_message(chat, "hola")),
                        guests,
                    )
                )
            assert answers == [200] * len(guests)

            def every_guest(messages: list[Message]) -> bool:
                chats = {
                    m.json()["chat"] for m in messages if m.json()["type"] == "message_received"
                }
                return chats == set(guests)

            for stream in streams:
                stream.read_until(every_guest)
        finally:
            for stream in streams:
                stream.close()

        # The server frees a slot once it finds its client gone, at its next write at the latest.
        settle(server, whapi_fake, turns=len(guests))

        def a_stream_opens() -> bool:
            stream = Stream(server)
            stream.close()
            return stream.response.status_code == 200

        wait_for(a_stream_opens, timeout=30, interval=0.5, what="a stream slot freed")


def test_a_stop_signal_ends_every_open_stream_and_exits_cleanly(make_server, whapi_fake):
    server = make_server().start()
    streams = [Stream(server) for _ in range(MAX_STREAMS)]
    try:
        assert whapi_fake.post_webhook(payloads.text_message(GUEST, "hola")) == 200
        for stream in streams:
            stream.read_until(lambda messages: len(messages) >= 1)

        assert server.stop() == 0

        for stream in streams:
            assert stream.read_to_end().startswith("retry: 1000\n\n")
    finally:
        for stream in streams:
            stream.close()
    # Waitress waits (and says so) for threads still busy when it stops.
    assert "still running" not in server.log_text()


def test_a_warning_the_server_logs_is_on_the_dashboard(make_server, whapi_fake):
    server = make_server().start()
    assert whapi_fake.post_webhook(payloads.text_message(GUEST, "hola")) == 200
    settle(server, whapi_fake, turns=1)
    assert server.stop() == 0
    (segment,) = sorted(server.journal_dir.glob("*.jsonl"))
    with segment.open("ab") as f:
        f.write(b'{"type":"message_received","chat":"34655000111@s.whatsapp.net"')  # a crash

    with server.restart():
        problems = server.get("/dashboard/stats").json()["problems"]

    (torn,) = [p for p in problems if "crash mid-write" in p["message"]]
    assert torn["level"] == "WARNING"
    assert torn["logger"] == "conserje.eventlog.jsonl"
