"""One thread that turns the passage of time into :class:`Tick` messages."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from conserje.actors.clock import Clock
from conserje.actors.messages import Tick

__all__ = ["Ticker"]


class Ticker:
    """Tells ``target`` the time every ``interval`` seconds until stopped.

    Args:
        target: the actor that dispatches deadlines (the supervisor).
        clock: where the time comes from.
        interval: seconds between ticks; also the resolution of every deadline.
    """

    def __init__(self, target: pykka.ActorRef[Any], clock: Clock, interval: float = 0.05) -> None:
        self._target = target
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the thread to end (a no-op if it never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._target.tell(Tick(self._clock.now()))
            except pykka.ActorDeadError:
                return
