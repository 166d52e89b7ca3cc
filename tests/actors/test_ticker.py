import queue

import pykka
import pytest

from conserje.actors.clock import SystemClock
from conserje.actors.messages import Tick
from conserje.actors.ticker import Ticker

LONG_INTERVAL = 60.0  # no regular tick happens during a test


class Recorder(pykka.ThreadingActor):
    def __init__(self, ticks: queue.Queue) -> None:
        super().__init__()
        self.ticks = ticks

    def on_receive(self, message):
        self.ticks.put(message)


@pytest.fixture
def ticker():
    ticks: queue.Queue = queue.Queue()
    recorder = Recorder.start(ticks)
    clock = SystemClock()
    made = Ticker(recorder, clock, interval=LONG_INTERVAL)
    made.start()
    yield made, ticks, clock
    made.stop()
    recorder.stop()


def test_a_deadline_gets_its_own_tick_long_before_the_next_regular_one(ticker):
    made, ticks, clock = ticker
    at = clock.now() + 0.05
    made.wake_at(at)
    tick = ticks.get(timeout=10)
    assert isinstance(tick, Tick)
    assert tick.now >= at
    assert ticks.empty()


def test_the_soonest_of_several_deadlines_ticks_first(ticker):
    made, ticks, clock = ticker
    now = clock.now()
    made.wake_at(now + 30)
    made.wake_at(now + 0.05)
    assert ticks.get(timeout=10).now < now + 30


def test_a_deadline_already_past_ticks_at_once(ticker):
    made, ticks, clock = ticker
    made.wake_at(clock.now() - 1)
    assert isinstance(ticks.get(timeout=10), Tick)


def test_stopping_ends_the_thread_even_while_waiting_for_a_deadline():
    ticks: queue.Queue = queue.Queue()
    recorder = Recorder.start(ticks)
    clock = SystemClock()
    made = Ticker(recorder, clock, interval=LONG_INTERVAL)
    made.start()
    made.wake_at(clock.now() + 3600)
    made.stop()
    recorder.stop()
    assert not made._thread.is_alive()
    assert ticks.empty()
