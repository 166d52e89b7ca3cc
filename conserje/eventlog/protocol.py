"""What the rest of Conserje needs from a journal, whatever stores it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from conserje.eventlog.events import Event

__all__ = ["Journal", "check_expected_version"]


class Journal(Protocol):
    """An append-only, durable sequence of events (see :mod:`conserje.eventlog.jsonl`)."""

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event written."""
        ...

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        timeout: float = 10.0,
    ) -> list[Event]:
        """Append ``events`` together and return them as written, once durable."""
        ...


def check_expected_version(events: Sequence[Event], expected_version: int | None) -> None:
    """Refuse an ``expected_version`` on an append that is not about exactly one chat.

    Raises:
        ValueError: ``expected_version`` is given and the events span several chats.
    """
    if expected_version is not None and len({e.chat for e in events}) != 1:
        raise ValueError("expected_version needs events of exactly one chat")
