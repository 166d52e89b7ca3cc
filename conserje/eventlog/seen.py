"""The message ids already journaled, for deduplicating Whapi's redeliveries."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from itertools import repeat

__all__ = ["SeenIds"]


class SeenIds:
    """A bounded, thread-safe set of message ids with claim-then-confirm semantics.

    Two deliveries of the same message may reach two HTTP threads at once; the first to
    :meth:`claim` an id wins and the other sees a duplicate. If the winner cannot
    journal the message it :meth:`release`-s the id so Whapi's retry is accepted.

    The oldest ids are forgotten past ``limit``: Whapi stops redelivering after at most
    48 hours (``webhook_max_age_seconds``), long before a busy channel fills the set.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, message_id: object) -> bool:
        with self._lock:
            return message_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def recent(self) -> list[str]:
        """Return the remembered ids, oldest first (for snapshots)."""
        with self._lock:
            return list(self._ids)

    def load(self, message_ids: Iterable[str]) -> None:
        """Mark ids as seen, oldest first, in one go (a snapshot's, at boot)."""
        with self._lock:
            # A C-level pass over a snapshot's ~10^5 ids, not claim()'s loop in Python
            # (pairs: an OrderedDict updated from a dict goes through its keys() slowly).
            self._ids.update(zip(message_ids, repeat(None)))
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)

    def claim(self, message_ids: Iterable[str]) -> set[str]:
        """Mark ids as seen and return those that were not seen before."""
        fresh: set[str] = set()
        with self._lock:
            for message_id in message_ids:
                if message_id not in self._ids:
                    self._ids[message_id] = None
                    fresh.add(message_id)
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)
        return fresh

    def release(self, message_ids: Iterable[str]) -> None:
        """Forget ids whose claim was not journaled."""
        with self._lock:
            for message_id in message_ids:
                self._ids.pop(message_id, None)
