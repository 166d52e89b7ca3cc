"""Waitress connections that refuse oversized bodies at once and cut clients that trickle.

Waitress reads a request whole before a thread runs the app, so slow clients cost a
connection, not a thread; but it counts a connection as active while any byte arrives,
so a client sending one byte now and then holds its connection for ever, and enough of
them fill the connection limit until no webhook gets in. Here a request must arrive
whole within the channel timeout from its first byte (:class:`ReadDeadlineChannel`).

Waitress also answers ``Expect: 100-continue`` before it looks at ``Content-Length``, so
a client announcing a body over the limit was told to send it, only to get 413 once
the limit was reached. :class:`EarlyRefusalParser` skips the ``100 Continue`` then, so
the 413 is the first and only answer, and tells who asks (the webhook's metrics) about
each body it refuses, since those 413s never reach the app.

And while a task thread writes its response, Waitress's loop sees the connection as
writable, since its buffer is not empty, but cannot flush it: the task holds the
buffer's lock, and after its own ``send`` it waits for the GIL. The loop then spins,
its ``poll`` returning at once, and each turn takes the GIL from the very threads it is
waiting for (under load, ~20 empty turns per webhook: a quarter of the server's CPU).
:class:`ReadDeadlineChannel` is not writable while its task is writing; the task
flushes what it wrote itself, and wakes the loop if anything is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any, ClassVar

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.utilities import RequestEntityTooLarge

__all__ = ["EarlyRefusalParser", "ReadDeadlineChannel", "use_guarded_channels"]


class EarlyRefusalParser(HTTPRequestParser):
    """Reads a request; never asks for a body it is going to refuse.

    Attributes:
        on_too_large: called once with the request's path when its body is refused.
    """

    on_too_large: ClassVar[Callable[[str], None] | None] = None
    _told = False

    def received(self, data: bytes) -> int:
        """Take bytes of the request; tell ``on_too_large`` when the body is refused."""
        consumed = super().received(data)
        if isinstance(self.error, RequestEntityTooLarge) and not self._told:
            self._told = True
            if self.on_too_large is not None:
                self.on_too_large(self.path)
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        """Parse the headers; no ``100 Continue`` for a body over the size limit."""
        super().parse_header(header_plus)
        if self.content_length >= self.adj.max_request_body_size:
            self.expect_continue = False


class ReadDeadlineChannel(HTTPChannel):
    """A connection whose request must arrive whole within ``channel_timeout``.

    Waitress's maintenance closes a channel with no request in service whose
    ``last_activity`` is older than ``channel_timeout``. While a request is only partly
    read, ``last_activity`` stays at the moment its first byte came, so trickling more
    bytes does not keep the connection open.

    It is also not writable while a task thread is inside :meth:`write_soon` (see the
    module's docstring), unless the buffer is over its high watermark: the task then
    waits for the loop to flush it.
    """

    parser_class = EarlyRefusalParser
    _request_began: float | None = None
    _writing = False

    def writable(self) -> bool:
        """Whether the loop should flush this connection now (not while a task writes)."""
        if (
            self._writing
            and self.total_outbufs_len <= self.adj.outbuf_high_watermark
            and not (self.will_close or self.close_when_flushed)
        ):
            return False
        return bool(super().writable())

    def write_soon(self, data: Any) -> int:
        """Queue and flush ``data`` from a task thread; wake the loop if some is left."""
        self._writing = True
        try:
            return int(super().write_soon(data))
        finally:
            self._writing = False
            # The loop may have looked while this flag was up: it must look again.
            if super().writable():
                self.server.pull_trigger()

    def handle_read(self) -> None:
        """Read what arrived; a partial request keeps the time it began."""
        super().handle_read()
        if self.request is None:
            self._request_began = None
            return
        if self._request_began is None:
            self._request_began = time.time()
        self.last_activity = self._request_began


def use_guarded_channels(
    server_map: MutableMapping[Any, Any], on_too_large: Callable[[str], None]
) -> None:
    """Make every listening server in Waitress's ``server_map`` use guarded channels.

    Args:
        server_map: the map given to ``waitress.create_server``.
        on_too_large: called with the path of each request whose body is refused.
    """

    class Parser(EarlyRefusalParser):
        pass

    Parser.on_too_large = staticmethod(on_too_large)

    class Channel(ReadDeadlineChannel):
        parser_class = Parser

    for dispatcher in server_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = Channel
