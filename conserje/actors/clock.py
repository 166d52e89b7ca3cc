"""Time, injectable: the system clock in production, a manual one in tests."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where every part of Conserje gets the time and waits."""

    def now(self) -> float:
        """Return wall-clock time in Unix seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it at once.

    Args:
        start: the initial time in Unix seconds.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current manual time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` without blocking."""
        self.advance(seconds)

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        with self._lock:
            self._now += max(0.0, seconds)
            return self._now
