"""``GET /chats/{chat}/timeline``: one chat's journaled story, as ``conserje log show`` tells it.

The journal is read from disk with the audit commands' reader (every line checked),
so the timeline holds everything the journal holds, not only what this process saw.
That read goes through the whole journal, so few run at once: webhooks keep their
threads.
"""

from __future__ import annotations

import threading
from collections import deque

import falcon

from conserje.audit.filters import EventFilter
from conserje.audit.record import story_record
from conserje.audit.source import read_events
from conserje.chat_ids import chat_or_number
from conserje.errors import JournalCorrupt
from conserje.eventlog.events import Event
from conserje.http.auth import require_admin
from conserje.http.chats import chat_in_path
from conserje.runtime import Runtime

__all__ = ["MAX_READS", "TIMELINE_LIMIT", "TIMELINE_MAX", "TimelineResource"]

TIMELINE_LIMIT = 200
"""Events a timeline holds unless ``?limit=`` says otherwise (the newest ones)."""

TIMELINE_MAX = 2000
"""The largest ``?limit=`` accepted."""

MAX_READS = 2
"""Timelines read at once; more get 503 with ``Retry-After``."""


class TimelineResource:
    """A chat's events in order, newest last, each with its story line and fields.

    ``chat`` is a full chat id (``34600111222@s.whatsapp.net``) or its phone digits;
    anything else is 400.
    The answer holds the newest ``?limit=`` events, ``total`` (how many the chat has)
    and ``truncated`` (whether older ones were left out); 404 when the journal has
    nothing for the chat.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._journal = runtime.settings.journal_dir
        self._admin_token = runtime.settings.admin_token
        self._reads = threading.BoundedSemaphore(MAX_READS)

    def on_get(self, req: falcon.Request, resp: falcon.Response, chat: str) -> None:
        """Read the chat's story from the journal."""
        require_admin(req, self._admin_token, session=True)
        chat = chat_in_path(chat, chat_or_number)
        limit = req.get_param_as_int(
            "limit", min_value=1, max_value=TIMELINE_MAX, default=TIMELINE_LIMIT
        )
        if not self._reads.acquire(blocking=False):
            raise falcon.HTTPServiceUnavailable(
                title="Too many timelines being read", retry_after=2
            )
        try:
            newest, total = self._read(EventFilter(chat=chat), limit)
        finally:
            self._reads.release()
        if not total:
            raise falcon.HTTPNotFound(
                title="Unknown chat", description="The journal has no event for this chat."
            )
        resp.set_header("Cache-Control", "no-store")
        resp.media = {
            "chat": chat,
            "total": total,
            "truncated": total > len(newest),
            "events": [story_record(event) for event in newest],
        }

    def _read(self, chosen: EventFilter, limit: int) -> tuple[deque[Event], int]:
        newest: deque[Event] = deque(maxlen=limit)
        total = 0
        try:
            for event in read_events(self._journal, progress=False):
                if chosen.matches(event):
                    newest.append(event)
                    total += 1
        except JournalCorrupt as exc:
            raise falcon.HTTPInternalServerError(
                title="The journal is damaged",
                description=f"{exc}; `conserje log verify` says what can be done.",
            ) from exc
        return newest, total
