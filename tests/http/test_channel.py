"""Waitress's guarded connections still deliver every byte of a response.

A connection is not writable while its task thread writes (see
:mod:`conserje.http.channel`); what the task could not send must still reach the
client, whether the task then goes on writing, waits, or ends.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from waitress.server import create_server

from conserje.http.channel import use_guarded_channels

CHUNK = 64 * 1024
WATERMARK = 256 * 1024
"""Waitress's ``outbuf_high_watermark`` here: a task writing past it waits for the loop."""
WAIT = 10.0

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@pytest.fixture
def serve() -> Iterator[Callable[[App], int]]:
    """Run WSGI apps on the real Waitress with Conserje's channels; yield a starter."""
    started: list[tuple[Any, threading.Thread]] = []

    def start(app: App) -> int:
        server_map: dict[int, object] = {}
        server = create_server(
            app,
            map=server_map,
            host="127.0.0.1",
            port=0,
            threads=2,
            outbuf_high_watermark=WATERMARK,
            asyncore_use_poll=True,
        )
        use_guarded_channels(server_map, lambda path: None)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started.append((server, thread))
        return int(server.effective_port)

    yield start
    for server, thread in started:
        server.close()
        thread.join(timeout=WAIT)


def request(port: int, path: str = "/") -> socket.socket:
    """Send a GET and return the socket, its answer not read yet."""
    sock = socket.socket()
    # Small kernel buffers, so the server's own buffer fills up soon.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def read_answer(sock: socket.socket, body_bytes: int) -> bytes:
    """Read the head and ``body_bytes`` of body in small pieces, as a slow reader would."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    while len(body) < body_bytes:
        piece = sock.recv(4096)
        assert piece, f"connection closed after {len(body)} of {body_bytes} bytes"
        body += piece
    return head + b"\r\n\r\n" + body


def test_a_response_many_times_the_watermark_reaches_a_slow_reader_whole(serve):
    chunks = [bytes([n]) * CHUNK for n in range(64)]
    total = sum(map(len, chunks))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(total))])
        return iter(chunks)

    with request(serve(app)) as sock:
        answer = read_answer(sock, total)

    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert answer.endswith(b"".join(chunks))


def test_what_a_waiting_task_wrote_reaches_the_client_before_the_task_ends(serve):
    event = b"data: " + b"x" * (4 * CHUNK) + b"\n\n"
    received = threading.Event()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        yield event
        # Like a live stream between events: the task waits, the loop must flush.
        received.wait(WAIT)
        yield b"data: end\n\n"

    with request(serve(app)) as sock:
        data = b""
        while event not in data:
            piece = sock.recv(65536)
            assert piece, "connection closed before the event arrived"
            data += piece
        received.set()

    assert event in data
