"""The base of the fake servers: a threaded stdlib HTTP server on 127.0.0.1.

Each fake (OpenAI, Whapi) subclasses :class:`FakeServer` and implements
:meth:`FakeServer.route`. The base gives them what every fake needs: a free port on
loopback, a log of the requests it received, and faults injected on cue (an error
status, a slow answer, a dropped connection) so tests can script the outside world.

A fake can run for as long as the demo is up, so what it records is bounded: the
request log and each fake's own records (sends, runs, ...) keep the newest
:data:`REQUEST_LOG_LIMIT` of each kind, or the ``log_limit`` a fake is built with.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = [
    "REQUEST_LOG_LIMIT",
    "FakeRequest",
    "FakeResponse",
    "FakeServer",
    "Fault",
    "json_response",
    "keep_newest",
]

REQUEST_LOG_LIMIT = 10_000
"""Records of each kind a fake keeps by default (requests, sends, runs...): the newest.

Far more than a test's traffic through one fake (the reliability rig, whose checker
reads every send of runs by hand, passes its own); the demo makes about fifteen
requests per guest message, so it remembers its last several hundred messages.
"""

_K = TypeVar("_K")
_V = TypeVar("_V")


def keep_newest(records: dict[_K, _V], limit: int) -> None:
    """Drop the oldest entries of ``records`` (in insertion order) beyond ``limit``."""
    for key in list(itertools.islice(records, max(0, len(records) - limit))):
        del records[key]


@dataclass(frozen=True)
class FakeRequest:
    """One request as a fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        """Decode the body as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """Return a header by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass
class FakeResponse:
    """What a fake answers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> FakeResponse:
    """Build a JSON response."""
    return FakeResponse(status, json.dumps(payload).encode(), headers=dict(headers or {}))


@dataclass
class Fault:
    """A fault to inject into the next matching requests.

    Attributes:
        method: HTTP method to match, or ``"*"``.
        path_prefix: the request path must start with this.
        response: answer with this instead of the real route (``None``: run the route).
        delay: seconds to wait before answering (a slow server, or a timeout for the client).
        drop: close the connection without answering.
        taken: run the route first, so the call takes effect, and only then answer with
            ``response`` or drop the connection (an answer lost or garbled on its way back).
        times: how many requests it applies to.
    """

    method: str
    path_prefix: str
    response: FakeResponse | None = None
    delay: float = 0.0
    drop: bool = False
    taken: bool = False
    times: int = 1

    def matches(self, request: FakeRequest) -> bool:
        """Tell whether this fault applies to ``request``."""
        return self.method in ("*", request.method) and request.path.startswith(self.path_prefix)


class _Listener(ThreadingHTTPServer):
    """A threaded server whose listen backlog takes a burst of connections.

    The standard library's default backlog of 5 makes the kernel drop connections when
    hundreds of chats send at once (the turn-overhead benchmark); the real services do not.
    """

    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client went away mid-answer (a killed server under test)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 with a request log and injectable faults.

    Args:
        log_limit: records of each kind kept, the newest (see :data:`REQUEST_LOG_LIMIT`).

    Attributes:
        log_limit: records of each kind kept.
    """

    def __init__(self, *, log_limit: int = REQUEST_LOG_LIMIT) -> None:
        self.log_limit = log_limit
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: deque[FakeRequest] = deque(maxlen=log_limit)
        self._httpd = _Listener(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll interval
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` to the next matching requests."""
        with self._lock:
            self._faults.append(fault)

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[FakeRequest]:
        """Return the requests received so far (the newest ``log_limit``), optionally filtered."""
        with self._lock:
            return [
                r
                for r in self._log
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]

    def route(self, request: FakeRequest) -> FakeResponse:
        """Answer one request; subclasses implement their API here."""
        raise NotImplementedError

    def _take_fault(self, request: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, request: FakeRequest) -> FakeResponse | None:
        with self._lock:
            self._log.append(request)
        fault = self._take_fault(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.taken:
                self.route(request)
            if fault.drop:
                return None
            if fault.response is not None:
                return fault.response
        return self.route(request)


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, each request stalls
        # about 40 ms on the client's delayed ACK.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urllib.parse.urlsplit(self.path)
            request = FakeRequest(
                method=self.command,
                path=urllib.parse.unquote(parts.path),
                query=dict(urllib.parse.parse_qsl(parts.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.time(),
            )
            response = server._dispatch(request)
            if response is None:
                self.close_connection = True
                return
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean; the request log is the record."""

    return Handler
