"""The burst rule, with plain numbers: quiet window, hard cap, message cap."""

from __future__ import annotations

import pytest

from conserje.actors.buffer import Buffer, BufferPolicy

WINDOW = 5.0
MAX_WAIT = 20.0


def make_buffer(max_messages: int = 50) -> Buffer:
    return Buffer(BufferPolicy(window=WINDOW, max_wait=MAX_WAIT, max_messages=max_messages))


def test_one_message_is_due_exactly_one_window_later():
    buffer = make_buffer()
    buffer.add("m1", 100.0)

    assert buffer.deadline() == pytest.approx(105.0)
    assert not buffer.due(104.999)
    assert buffer.due(105.0)
    assert buffer.due(300.0)


def test_a_second_message_inside_the_window_pushes_the_deadline():
    buffer = make_buffer()
    buffer.add("m1", 100.0)
    buffer.add("m2", 103.0)

    assert buffer.deadline() == pytest.approx(108.0)
    assert not buffer.due(105.0)
    assert buffer.due(108.0)


def test_continuous_messages_are_capped_at_first_plus_max_wait():
    buffer = make_buffer()
    now = 100.0
    count = 0
    while now < 100.0 + MAX_WAIT:
        assert not buffer.due(now)
        buffer.add(f"m{count}", now)
        count += 1
        now += WINDOW / 2

    assert count == 8
    assert buffer.deadline() == pytest.approx(100.0 + MAX_WAIT)
    assert buffer.due(100.0 + MAX_WAIT)
    buffer.add("late", 100.0 + MAX_WAIT + 1)
    assert buffer.deadline() == pytest.approx(100.0 + MAX_WAIT)


def test_reaching_max_messages_makes_it_due_at_once():
    buffer = make_buffer(max_messages=3)
    buffer.add("m1", 10.0)
    buffer.add("m2", 10.5)
    assert not buffer.due(11.0)

    buffer.add("m3", 11.0)

    assert buffer.due(11.0)
    assert buffer.deadline() == pytest.approx(11.0)


def test_a_duplicate_is_kept_once_and_does_not_extend_the_burst():
    buffer = make_buffer()
    buffer.add("m1", 100.0)
    buffer.add("m1", 104.0)

    assert buffer.message_ids == ["m1"]
    assert buffer.deadline() == pytest.approx(105.0)


def test_take_returns_ids_oldest_first_and_resets():
    buffer = make_buffer()
    buffer.add("m1", 100.0)
    buffer.add("m2", 101.0)
    buffer.add("m3", 102.0)

    assert buffer.take() == ["m1", "m2", "m3"]
    assert buffer.message_ids == []
    assert buffer.deadline() is None
    assert not buffer.due(1_000.0)
    assert buffer.take() == []

    # The next burst starts afresh: its cap counts from its own first message.
    buffer.add("m4", 500.0)
    assert buffer.deadline() == pytest.approx(505.0)


def test_an_empty_buffer_has_no_deadline_and_is_never_due():
    buffer = make_buffer()

    assert buffer.deadline() is None
    assert not buffer.due(0.0)
    assert not buffer.due(1e12)


TYPING = BufferPolicy(window=5.0, max_wait=20.0, max_messages=50, typing_hold=10.0)


def test_typing_holds_a_burst_open_beyond_the_quiet_window():
    buffer = Buffer(TYPING)
    buffer.add("m1", 100.0)
    assert buffer.presence("typing", 103.0) is True
    assert not buffer.due(105.5)
    assert buffer.deadline() == 113.0
    assert buffer.due(113.0)


def test_the_hold_expires_by_itself_when_no_stop_ever_comes():
    buffer = Buffer(TYPING)
    buffer.add("m1", 100.0)
    buffer.presence("recording", 101.0)
    assert buffer.due(111.0)


def test_stopping_typing_releases_the_hold():
    buffer = Buffer(TYPING)
    buffer.add("m1", 100.0)
    buffer.presence("typing", 101.0)
    assert buffer.presence("online", 102.0) is True
    assert buffer.deadline() == 105.0


def test_typing_never_holds_past_the_absolute_cap():
    buffer = Buffer(TYPING)
    buffer.add("m1", 100.0)
    for t in range(101, 140, 3):
        buffer.presence("typing", float(t))
    assert buffer.deadline() == 120.0


def test_typing_before_the_first_message_still_holds_it():
    buffer = Buffer(TYPING)
    assert buffer.presence("typing", 100.0) is False
    assert buffer.deadline() is None
    buffer.add("m1", 101.0)
    assert buffer.deadline() == 110.0


def test_taking_the_burst_clears_the_hold():
    buffer = Buffer(TYPING)
    buffer.add("m1", 100.0)
    buffer.presence("typing", 100.0)
    buffer.take()
    buffer.add("m2", 200.0)
    assert buffer.deadline() == 205.0
