"""Keeping a chat's history within budget: recent turns verbatim, older ones summarised.

The summary is written by the model and journaled as plain text, so an auditor can read
what the assistant "remembers". (The Responses API's own ``/responses/compact`` returns
encrypted items that neither auditors nor other model servers can read; Conserje does
not use it.)
"""

from __future__ import annotations

from collections.abc import Sequence

from conserje.eventlog.projection import SUMMARY_PREFIX, HistoryItem

__all__ = ["SUMMARY_INSTRUCTIONS", "plan", "transcript"]

SUMMARY_INSTRUCTIONS = (
    "You keep the memory of a business's WhatsApp assistant. Summarise the conversation "
    "you are given for the assistant's own use: keep names, dates, numbers of guests, "
    "prices, bookings, promises made and questions still open; drop greetings and small "
    "talk. Write plain prose in the language of the conversation."
)

_CHARS_PER_TOKEN = 4
_SPEAKERS = {"user": "Guest", "assistant": "Business", "developer": "Note"}


def plan(history: Sequence[HistoryItem], target_tokens: int) -> tuple[list[HistoryItem], int]:
    """Split ``history`` into the items to summarise and how many recent ones to keep.

    The newest items that fit in half of ``target_tokens`` stay verbatim; the summary
    gets the other half.
    """
    budget = target_tokens // 2 * _CHARS_PER_TOKEN
    kept = used = 0
    for item in reversed(history):
        used += len(item.text)
        if used > budget:
            break
        kept += 1
    return list(history)[: len(history) - kept], kept


def transcript(items: Sequence[HistoryItem]) -> str:
    """Render history items as a readable conversation for the summariser."""
    lines = []
    for item in items:
        text = item.text.removeprefix(SUMMARY_PREFIX)
        lines.append(f"{_SPEAKERS.get(item.role, item.role)}: {text}")
    return "\n".join(lines)
