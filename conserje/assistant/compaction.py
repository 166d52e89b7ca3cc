"""Keeping a chat's history within budget: recent turns verbatim, older ones condensed.

Older items are condensed by the model server's ``/responses/compact`` where it has one
(``COMPACTION_METHOD=auto``), or else into a summary written by the model and journaled as
plain text. The server's compaction item is encrypted: an auditor reads the guest's
messages it keeps but not what the model remembers of the rest, so deployments that must
explain every answer set ``COMPACTION_METHOD=summary``.
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
