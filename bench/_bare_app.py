"""The intake benchmark's baseline: a bare Falcon app on Waitress, as Conserje serves it.

``python bench/_bare_app.py PORT MAX_BYTES`` answers ``POST /hook`` with 200 and a small
JSON body after reading the request body with the same bound as ``/hook``, on a Waitress
server with the same thread count and body limit as ``conserje serve``. No parsing, no
journal: what is left is the cost of HTTP, Falcon and Waitress alone.
"""

from __future__ import annotations

import signal
import sys
import types

import falcon
from waitress.server import create_server

from conserje.server import _HTTP_THREADS


class BareHook:
    """Reads the body and answers 200, as fast as Falcon allows."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.bounded_stream.read(self._max_bytes + 1)
        resp.media = {"received": 1 if body else 0, "duplicates": 0, "ignored": 0}


def main(argv: list[str]) -> int:
    """Serve until SIGTERM."""
    port, max_bytes = int(argv[1]), int(argv[2])
    app = falcon.App()
    app.add_route("/hook", BareHook(max_bytes))
    app.add_route("/ready", BareReady())
    server = create_server(
        app,
        host="127.0.0.1",
        port=port,
        threads=_HTTP_THREADS,
        max_request_body_size=max_bytes + 1,
        ident="bare",
    )

    def stop(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


class BareReady:
    """``/ready`` answers 200 at once, so the bare app is polled like the real one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ready"}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
