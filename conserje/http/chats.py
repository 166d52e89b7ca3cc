"""Admin endpoints about one chat: pause and resume the assistant, reset its context."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from conserje.chat_ids import BadChatId, chat_id
from conserje.errors import JournalUnavailable
from conserje.eventlog.events import ContextReset, Event, HandoffEnded, HandoffStarted
from conserje.http.auth import require_admin
from conserje.runtime import Runtime

__all__ = [
    "MAX_PAUSE_MINUTES",
    "PauseResource",
    "ResetResource",
    "ResumeResource",
    "chat_in_path",
]

MAX_PAUSE_MINUTES = 43_200
"""The longest pause an admin may ask for: 30 days, as ``HUMAN_HANDOFF_PAUSE_MS`` allows."""


def chat_in_path(chat: str, read: Callable[[str], str] = chat_id) -> str:
    """Return the ``{chat}`` of a route as ``read`` accepts it.

    Raises:
        falcon.HTTPBadRequest: it is not a chat id, with what one looks like.
    """
    try:
        return read(chat)
    except BadChatId as exc:
        raise falcon.HTTPBadRequest(title="Bad chat id", description=str(exc)) from exc


def _journal(runtime: Runtime, event: Event) -> None:
    try:
        runtime.accept([event])
    except JournalUnavailable as exc:
        raise falcon.HTTPServiceUnavailable(
            title="Journal unavailable", description=str(exc)
        ) from exc


def _valid_minutes(minutes: object) -> bool:
    # JSON bodies may say NaN or Infinity (Python's parser takes them) and true is an
    # int to Python: none of those is a duration, and NaN would journal as null. The
    # comparisons refuse NaN and infinities, and work on ints too large for a float.
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        return False
    return 0 < minutes <= MAX_PAUSE_MINUTES


class PauseResource:
    """``POST /chats/{chat}/pause``: the assistant stays quiet in this chat.

    The pause lasts ``HUMAN_HANDOFF_PAUSE_MS``, or ``{"minutes": N}`` from the body.
    ``{chat}`` here and in resume and reset is a full chat id (400 otherwise).
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_post(self, req: falcon.Request, resp: falcon.Response, chat: str) -> None:
        """Journal a hand-off started by an admin."""
        require_admin(req, self._runtime.settings.admin_token)
        chat = chat_in_path(chat)
        try:
            body = req.get_media(default_when_empty={})
        except RecursionError as exc:
            # Python's JSON parser gives up on deep nesting without a ValueError.
            raise falcon.HTTPBadRequest(
                title="Invalid JSON", description="nested too deeply"
            ) from exc
        if not isinstance(body, dict):
            raise falcon.HTTPBadRequest(title='The body must be a JSON object, like {"minutes": 5}')
        minutes = body.get("minutes")
        if minutes is not None and not _valid_minutes(minutes):
            raise falcon.HTTPBadRequest(
                title=f"minutes must be a number from 0 (excluded) to {MAX_PAUSE_MINUTES}"
            )
        seconds = minutes * 60 if minutes else self._runtime.settings.human_handoff_pause_ms / 1000
        until = self._runtime.clock.now() + seconds
        _journal(self._runtime, HandoffStarted(chat=chat, by="admin", until=until))
        resp.media = {"chat": chat, "pausedUntil": until}


class ResumeResource:
    """``POST /chats/{chat}/resume``: end a pause early; the assistant answers again."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_post(self, req: falcon.Request, resp: falcon.Response, chat: str) -> None:
        """Journal the end of the hand-off."""
        require_admin(req, self._runtime.settings.admin_token)
        chat = chat_in_path(chat)
        _journal(self._runtime, HandoffEnded(chat=chat, by="admin"))
        resp.media = {"chat": chat, "paused": False}


class ResetResource:
    """``POST /chats/{chat}/reset``: forget the chat's history; the next turn starts fresh.

    The journal keeps everything: the reset is itself an event, so an audit still
    shows what was said before it.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_post(self, req: falcon.Request, resp: falcon.Response, chat: str) -> None:
        """Journal a context reset."""
        require_admin(req, self._runtime.settings.admin_token)
        chat = chat_in_path(chat)
        _journal(self._runtime, ContextReset(chat=chat, by="admin"))
        resp.media = {"chat": chat, "reset": True}
