"""``GET /dashboard/events``: the journal as it is written, as server-sent events.

Each journaled event is one message whose ``id`` is its ``seq`` and whose data is its
:func:`~conserje.audit.record.story_record`. A client that reconnects (EventSource does
it by itself, sending ``Last-Event-ID``; ``?after=<seq>`` does the same for a client
that starts over) gets what it missed from the feed, or a ``gap`` event first when some
of it is no longer there.

A stream holds one of Waitress's threads, so streams are few and short: at most
:data:`MAX_STREAMS` at once (more get 503 with ``Retry-After``), each ended after
``DASHBOARD_STREAM_MS``, with a comment every :data:`HEARTBEAT_SECONDS` so a client that
went away is noticed, and all of them ended at once when the server stops. A stream
that ends because its time is up frees its slot, then says so with an ``end`` event:
the dashboard opens the next one at once from where it was, so a healthy connection
never shows a reconnect (a plain EventSource reconnects by itself a second later; no
event is lost either way).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import falcon
import msgspec

from conserje.feed import LiveFeed
from conserje.http.auth import require_admin
from conserje.runtime import Runtime

__all__ = ["HEARTBEAT_SECONDS", "MAX_STREAMS", "EventStreamResource"]

MAX_STREAMS = 3
"""Event streams open at once; the server adds as many threads to its pool."""

HEARTBEAT_SECONDS = 10.0
"""Longest quiet time on a stream: a comment line is sent when nothing happened."""

RETRY_AFTER_SECONDS = 5
"""What a client refused for too many streams is told to wait."""

_RECONNECT_MS = 1000


class _Slot:
    """One stream's place among :data:`MAX_STREAMS`, given back exactly once."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots: threading.BoundedSemaphore | None = slots

    def release(self) -> None:
        """Give the place back; later calls do nothing."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


class _Stream:
    """A stream's body; closing it (WSGI servers always do) frees its slot."""

    def __init__(self, events: Iterator[bytes], slot: _Slot) -> None:
        self._events = events
        self._slot = slot

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        """End the stream (the client left, or it is over) and free its slot."""
        try:
            self._events.close()  # type: ignore[attr-defined]  # a generator
        finally:
            self._slot.release()


class EventStreamResource:
    """Streams the live feed to the dashboard (admin: bearer token or session cookie).

    Args:
        runtime: the server, for its feed and ``ADMIN_TOKEN``.
        max_streams: streams open at once.
        seconds: how long each stream lasts (default: ``DASHBOARD_STREAM_MS``).
        heartbeat: longest quiet time on a stream.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_streams: int = MAX_STREAMS,
        seconds: float | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._feed: LiveFeed = runtime.feed
        self._admin_token = runtime.settings.admin_token
        self._max_streams = max_streams
        self._slots = threading.BoundedSemaphore(max_streams)
        self._seconds = runtime.settings.dashboard_stream_ms / 1000 if seconds is None else seconds
        self._heartbeat = heartbeat

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Open a stream from the client's last seen ``seq``, if a slot is free."""
        require_admin(req, self._admin_token, session=True)
        after = _last_seen(req)
        if not self._slots.acquire(blocking=False):
            raise falcon.HTTPServiceUnavailable(
                title="Too many dashboard streams",
                description=f"At most {self._max_streams} are open at once; try again shortly.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        resp.content_type = "text/event-stream; charset=utf-8"
        resp.set_header("Cache-Control", "no-store")
        # Tell nginx and the like not to hold events back in a buffer.
        resp.set_header("X-Accel-Buffering", "no")
        slot = _Slot(self._slots)
        resp.stream = _Stream(self._events(after, slot), slot)

    def _events(self, after: int | None, slot: _Slot) -> Iterator[bytes]:
        feed = self._feed
        deadline = time.monotonic() + self._seconds
        yield b"retry: %d\n\n" % _RECONNECT_MS
        while not feed.closed:
            read = feed.read(after)
            chunks = []
            if read.gap:
                gap = msgspec.json.encode({"lastSeen": after, "resumesAfter": read.since})
                chunks.append(b"id: %d\nevent: gap\ndata: %s\n\n" % (read.since, gap))
            chunks += [b"id: %d\ndata: %s\n\n" % (e.seq, e.json()) for e in read.entries]
            after = read.entries[-1].seq if read.entries else read.since
            if chunks:
                yield b"".join(chunks)
            left = deadline - time.monotonic()
            if left <= 0:
                # Free the slot first: the client opens its next stream on reading this.
                slot.release()
                yield b"event: end\ndata: %s\n\n" % msgspec.json.encode({"lastSeen": after})
                return
            if not feed.wait(after, min(self._heartbeat, left)) and not feed.closed:
                yield b": keep-alive\n\n"


def _last_seen(req: falcon.Request) -> int | None:
    """Return the ``seq`` the client saw last: ``Last-Event-ID``, else ``?after=``."""
    header = (req.get_header("Last-Event-ID") or "").strip()
    if not header:
        return req.get_param_as_int("after", min_value=0)
    # A seq fits in 19 digits; Python refuses to read ints of thousands of them.
    if not (header.isascii() and header.isdigit() and len(header) <= 19):
        raise falcon.HTTPBadRequest(title="Last-Event-ID must be a journal seq")
    return int(header)
