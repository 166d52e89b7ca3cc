"""The dashboard's current numbers, read from the metrics and the actor world's board.

Rates and latencies are "over the last minute": counters are sampled when the stats
are read, a few samples are kept, and the newest sample at least a minute old is the
baseline. Counters start at zero with the process, so the moment it started is always
a valid baseline; when nobody asked for a while the window is longer, and says so.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from conserje.actors.board import Board
from conserje.metrics import Metrics

__all__ = ["LiveStats"]

_WINDOW = 60.0
_SPACING = 5.0
# At one sample per _SPACING, enough to always hold a sample a _WINDOW old.
_KEEP = 64


@dataclass(frozen=True)
class _Sample:
    at: float
    turns: float = 0.0
    fallbacks: float = 0.0
    turn_seconds: float = 0.0
    turns_timed: float = 0.0
    model_seconds: float = 0.0
    runs_timed: float = 0.0


def _total(metric: MetricWrapperBase, sample: str) -> float:
    """Sum ``metric``'s samples named ``sample`` over every label value."""
    return sum(s.value for family in metric.collect() for s in family.samples if s.name == sample)


class LiveStats:
    """Chats at work, turns per minute, fallbacks and latencies, for ``GET /dashboard/stats``.

    Args:
        metrics: the server's metrics, counted from zero since this process started.
        board: the actor world's view for HTTP threads.
        clock: monotonic seconds.
    """

    def __init__(
        self, metrics: Metrics, board: Board, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._metrics = metrics
        self._board = board
        self._clock = clock
        self._samples: deque[_Sample] = deque([_Sample(clock())], maxlen=_KEEP)
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """Return the current numbers, the per-minute ones over ``windowSeconds``."""
        now = self._sample()
        with self._lock:
            if now.at - self._samples[-1].at >= _SPACING:
                self._samples.append(now)
            base = next(
                (s for s in reversed(self._samples) if s.at <= now.at - _WINDOW), self._samples[0]
            )
        window = now.at - base.at
        turns = now.turns - base.turns
        busy = self._board.busy().values()
        return {
            "chatActors": self._board.live_actors,
            "turnsInFlight": sum(1 for s in busy if s.turn_since is not None),
            "chatsWaiting": sum(1 for s in busy if s.waiting),
            "windowSeconds": round(window, 1),
            "turnsPerMinute": round(turns * 60 / window, 1) if window > 0 else 0.0,
            "fallbacks": int(now.fallbacks - base.fallbacks),
            "turnSeconds": _mean(
                now.turn_seconds - base.turn_seconds, now.turns_timed - base.turns_timed
            ),
            "modelSeconds": _mean(
                now.model_seconds - base.model_seconds, now.runs_timed - base.runs_timed
            ),
            "turnsTotal": int(now.turns),
            "fallbacksTotal": int(now.fallbacks),
        }

    def _sample(self) -> _Sample:
        m = self._metrics
        return _Sample(
            at=self._clock(),
            turns=_total(m.turns, "conserje_turns_total"),
            fallbacks=_total(m.fallbacks, "bot_fallbacks_total"),
            turn_seconds=_total(m.turn_seconds, "conserje_turn_seconds_sum"),
            turns_timed=_total(m.turn_seconds, "conserje_turn_seconds_count"),
            model_seconds=_total(m.model_run_seconds, "conserje_model_run_seconds_sum"),
            runs_timed=_total(m.model_run_seconds, "conserje_model_run_seconds_count"),
        )


def _mean(total: float, count: float) -> float | None:
    return round(total / count, 3) if count else None
