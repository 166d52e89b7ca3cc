"""What the rest of Conserje needs from a journal, whatever stores it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from conserje.eventlog.events import Event

__all__ = ["Journal"]


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
