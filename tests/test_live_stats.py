"""The dashboard's numbers: rates and latencies over the last minute, from the metrics."""

from __future__ import annotations

from conserje.actors.board import Board
from conserje.actors.messages import ChatStatus
from conserje.live_stats import LiveStats
from conserje.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def finish_turns(metrics: Metrics, outcome: str, *latencies: float) -> None:
    for seconds in latencies:
        metrics.turns.labels(outcome).inc()
        metrics.turn_seconds.labels(outcome).observe(seconds)
        if outcome == "fallback":
            metrics.fallbacks.inc()


def test_rates_and_latencies_cover_the_last_minute():
    metrics, clock = Metrics(), Clock()
    stats = LiveStats(metrics, Board(), clock=clock)

    clock.now += 30
    finish_turns(metrics, "replied", 2.0, 2.0)
    finish_turns(metrics, "fallback", 5.0)
    metrics.model_run_seconds.observe(1.5)
    young = stats.read()
    assert young["windowSeconds"] == 30  # the process is younger than a minute
    assert young["turnsPerMinute"] == 6.0
    assert young["fallbacks"] == 1
    assert young["turnSeconds"] == 3.0
    assert young["modelSeconds"] == 1.5

    clock.now += 65
    finish_turns(metrics, "replied", 4.0)
    later = stats.read()
    # The turns read at +30 s are more than a minute old now: only the last one counts.
    assert later["windowSeconds"] == 65
    assert later["turnsPerMinute"] == round(60 / 65, 1)
    assert later["fallbacks"] == 0
    assert later["turnSeconds"] == 4.0
    assert later["modelSeconds"] is None  # no run finished in the window
    assert (later["turnsTotal"], later["fallbacksTotal"]) == (4, 1)


def test_the_chats_at_work_come_from_the_board():
    board = Board()
    board.live_actors = 3
    board.update(ChatStatus("a@s.whatsapp.net", turn_since=5.0, waiting=2))
    board.update(ChatStatus("b@s.whatsapp.net", turn_since=None, waiting=1))
    board.update(ChatStatus("c@s.whatsapp.net", turn_since=7.0, waiting=0))

    stats = LiveStats(Metrics(), board, clock=Clock()).read()

    assert (stats["chatActors"], stats["turnsInFlight"], stats["chatsWaiting"]) == (3, 2, 2)
    assert (stats["turnsPerMinute"], stats["turnSeconds"]) == (0.0, None)
