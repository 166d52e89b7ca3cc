"""Which events ``conserje log show`` prints: by chat, type and time."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from conserje.audit.vocabulary import type_name
from conserje.chat_ids import BadChatId, chat_or_number
from conserje.eventlog.events import Event

__all__ = ["EventFilter", "parse_chat", "parse_time"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now: Callable[[], float] = time.time) -> float:
    """Return the Unix time ``text`` names (an argparse ``type``).

    ``text`` is an ISO date or date-time (``2026-11-22``, ``2026-11-22T10:00``, local
    time unless it carries an offset) or a duration back from now (``30m``, ``2h``,
    ``7d``; also ``s`` and ``w``).

    Raises:
        argparse.ArgumentTypeError: ``text`` is neither.
    """
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        return now() - float(duration.group(1)) * _SECONDS[duration.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 2026-11-22, 2026-11-22T10:00, or 30m, 2h, 7d ago"
        ) from None


def parse_chat(text: str) -> str:
    """Return ``text`` if it names a chat: its full id or its phone digits (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: it names none, with what a chat id looks like.
    """
    try:
        return chat_or_number(text)
    except BadChatId as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class EventFilter:
    """A choice of events; an unset criterion lets every event through.

    Attributes:
        chat: a full chat id (``34600111222@s.whatsapp.net``) or just its phone digits.
        types: event types to keep (``message_received``...); empty keeps all.
        since: keep events at or after this Unix time.
        until: keep events before this Unix time.
    """

    chat: str | None = None
    types: frozenset[str] = frozenset()
    since: float | None = None
    until: float | None = None

    def matches(self, event: Event) -> bool:
        """Tell whether ``event`` passes every criterion."""
        return (
            self._chat_matches(event.chat)
            and (not self.types or type_name(event) in self.types)
            and (self.since is None or event.ts >= self.since)
            and (self.until is None or event.ts < self.until)
        )

    def _chat_matches(self, chat: str) -> bool:
        if self.chat is None:
            return True
        if "@" in self.chat:
            return chat == self.chat
        return chat.partition("@")[0] == self.chat.lstrip("+")
