"""The latest warnings and errors the server logged, masked, for the dashboard."""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Any

from conserje.logs import held_back, mask

__all__ = ["RECENT_LOGS_CAPACITY", "RecentLogs"]

RECENT_LOGS_CAPACITY = 100
"""Log records kept; the oldest is dropped first."""


class RecentLogs(logging.Handler):
    """A logging handler that keeps the latest WARNING and worse records in memory.

    Each record is kept as a small dict (``id``, ``ts``, ``level``, ``logger``,
    ``message``), its message masked with :func:`conserje.logs.mask` whatever the other
    handlers do, and an exception's type and message added to it. Added with
    :func:`conserje.logs.add_handler`, it holds back repeats as the log does, and its
    record says how many were held back as the log's line does.

    Args:
        capacity: records kept at most.
        level: the least severe level kept.
    """

    def __init__(self, capacity: int = RECENT_LOGS_CAPACITY, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` (called by :meth:`logging.Handler.handle`, under the handler's lock)."""
        try:
            message = record.getMessage() + held_back(record)
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message += f" ({type(exc).__name__}: {exc})"
            self._records.append(
                {
                    "id": next(self._ids),
                    "ts": record.created,
                    "level": record.levelname,
                    "logger": record.name,
                    "message": mask(message),
                }
            )
        except Exception:
            self.handleError(record)

    def records(self) -> list[dict[str, Any]]:
        """Return the records kept, oldest first."""
        with self.lock:
            return list(self._records)
