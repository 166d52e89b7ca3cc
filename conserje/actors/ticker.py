"""One thread that turns the passage of time into :class:`Tick` messages."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

from conserje.actors.clock import Clock
from conserje.actors.messages import Tick

__all__ = ["Ticker"]


class Ticker:
    """Tells ``target`` the time every ``interval`` seconds, and at deadlines, until stopped.

    A deadline announced with :meth:`wake_at` gets a tick of its own as soon as the
    clock reaches it, so a burst's turn starts when its window closes instead of up to
    one interval later.

    Args:
        target: the actor that dispatches deadlines (the supervisor).
        clock: where the time comes from.
        interval: seconds between regular ticks.
    """

    def __init__(self, target: pykka.ActorRef[Any], clock: Clock, interval: float = 0.05) -> None:
        self._target = target
        self._clock = clock
        self._interval = interval
        self._changed = threading.Condition()
        self._stopped = False
        self._soonest: float | None = None
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the thread to end (a no-op if it never started)."""
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def wake_at(self, at: float) -> None:
        """Tick as soon as the clock reaches ``at`` (clock time), besides the regular ticks."""
        with self._changed:
            if self._soonest is None or at < self._soonest:
                self._soonest = at
                self._changed.notify()

    def _run(self) -> None:
        next_tick = time.monotonic() + self._interval
        while self._wait(next_tick):
            try:
                self._target.tell(Tick(self._clock.now()))
            except pykka.ActorDeadError:
                return
            next_tick = time.monotonic() + self._interval

    def _wait(self, next_tick: float) -> bool:
        """Sleep until the next regular tick or the soonest deadline; ``False`` once stopped."""
        with self._changed:
            while not self._stopped:
                pause = next_tick - time.monotonic()
                if self._soonest is not None:
                    due = self._soonest - self._clock.now()
                    if due <= 0:
                        self._soonest = None
                        return True
                    pause = min(pause, due)
                if pause <= 0:
                    return True
                self._changed.wait(pause)
            return False
