"""Turning a model's reply into WhatsApp messages."""

from __future__ import annotations

import re

__all__ = ["MAX_CHUNKS", "split_reply", "typing_time", "worth_sending"]

MAX_CHUNKS = 6
"""More paragraphs than this are sent as fewer, longer messages."""

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def split_reply(text: str) -> list[str]:
    """Split a reply into paragraph chunks, at most :data:`MAX_CHUNKS` of them."""
    chunks = [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    if len(chunks) > MAX_CHUNKS:
        chunks = [*chunks[: MAX_CHUNKS - 1], "\n\n".join(chunks[MAX_CHUNKS - 1 :])]
    return chunks


def worth_sending(reply: str, guest_texts: list[str]) -> bool:
    """Tell whether a reply may go out: not empty, and not the guest's words echoed."""
    normalized = " ".join(reply.split()).casefold()
    if not normalized:
        return False
    echoed = " ".join(" ".join(guest_texts).split()).casefold()
    return normalized != echoed


def typing_time(chunk: str) -> int:
    """Seconds of "typing..." Whapi shows before a chunk: longer text, longer typing.

    About 25 characters a second, from 1 to 4 seconds, so a burst of chunks reads as a
    person writing without keeping the guest waiting.
    """
    return max(1, min(4, round(len(chunk) / 25)))
