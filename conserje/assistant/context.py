"""What the model is given for a turn: history, a context line, the new messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from conserje.eventlog.projection import HistoryItem

__all__ = ["build_input", "context_line", "history_input"]


def context_line(now: float, timezone: str, guest_name: str) -> str:
    """Describe the moment and the guest, so the model never guesses the date."""
    moment = dt.datetime.fromtimestamp(now, ZoneInfo(timezone))
    who = f"The guest's WhatsApp name is {guest_name}." if guest_name else "The guest is unnamed."
    return f"Now it is {moment:%A %Y-%m-%d %H:%M} ({timezone}). {who}"


def history_input(
    history: Iterable[HistoryItem], compacted: Iterable[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Return a chat's history as input items, after the items a server compaction left."""
    return [*compacted, *({"role": h.role, "content": h.text} for h in history)]


def build_input(
    history: Iterable[HistoryItem],
    new_texts: list[str],
    context: str,
    quoted: str = "",
    compacted: Iterable[dict[str, Any]] = (),
    *,
    attachments: Iterable[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Build a run's input items: earlier history, the context line, the new burst.

    The burst's messages are joined into one user message, as the guest meant them
    as one utterance; history keeps bursts the same way. When the guest replied to an
    earlier message, the context line says which, so the model reads the reply in
    context (and never mistakes the quoted words for new ones). ``attachments`` are
    content parts (``input_image``, ``input_file``) that join the burst's message.
    """
    items = history_input(history, compacted)
    if quoted:
        context += f' The guest is replying to this earlier message: "{quoted}"'
    items.append({"role": "developer", "content": context})
    text = "\n".join(new_texts)
    parts = list(attachments)
    if parts:
        items.append({"role": "user", "content": [{"type": "input_text", "text": text}, *parts]})
    else:
        items.append({"role": "user", "content": text})
    return items
