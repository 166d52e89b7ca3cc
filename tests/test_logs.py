"""Masking personal data and secrets in logs."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading

import pytest
from waitress.task import ThreadedTaskDispatcher

from conserje.logs import (
    REPEAT_KEYS_LIMIT,
    JsonFormatter,
    RepeatFilter,
    RepeatLimitedLogger,
    TextFormatter,
    TurnFilter,
    add_handler,
    configure_logging,
    mask,
    turn_context,
)
from conserje.recent_logs import RecentLogs
from conserje.testing.wait import wait_for


def test_a_chat_id_keeps_a_prefix_and_the_last_two_digits():
    masked = mask("turn started for 34699887766@s.whatsapp.net (3 messages)")

    assert masked == "turn started for 346****66@s.whatsapp.net (3 messages)"
    assert "99887" not in masked


def test_an_international_number_is_masked():
    masked = mask("guest +34611223344 wrote")

    assert "611223344" not in masked
    assert masked.startswith("guest +34")
    assert masked.endswith("44 wrote")


def test_a_bare_number_in_json_is_masked():
    masked = mask('{"from": "4915123456789", "type": "text"}')

    assert "5123456" not in masked
    assert '"type": "text"' in masked


def test_bearer_tokens_are_hidden():
    masked = mask("headers: Authorization: Bearer Wh4p1-Secr3t.T0ken_value sent")

    assert "Wh4p1" not in masked
    assert "Secr3t" not in masked
    assert "Bearer ****" in masked
    assert masked.endswith(" sent")


def test_openai_keys_are_hidden():
    masked = mask("using key sk-proj-Qw3rTy9UiOp0AsDfGhJkL in request")

    assert "Qw3rTy9UiOp0AsDfGhJkL" not in masked
    assert masked.startswith("using key sk-")
    assert masked.endswith(" in request")


@pytest.mark.parametrize(
    "text",
    [
        "seq 12 version 7",
        "appended at ts=1712995245.5",
        "took 1.25 s",
        "chunk 3 of 6, 1024 bytes",
        "group 120363555000111222@g.us",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert mask(text) == text


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged(formatter, *calls, repeat_filter=None, turn=""):
    """Log ``(level, msg, *args)`` calls through a handler like the server's; return the lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    if repeat_filter is not None:
        handler.addFilter(repeat_filter)
    handler.addFilter(TurnFilter())
    logger = logging.getLogger("conserje.tests.logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        with turn_context(turn):
            for level, msg, *args in calls:
                if callable(level):
                    level()
                    continue
                logger.log(level, msg, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_a_text_line_is_masked_after_formatting():
    (line,) = logged(
        TextFormatter(),
        (
            logging.INFO,
            "sent %d chunks to %s with %s",
            2,
            "34699887766@s.whatsapp.net",
            "Bearer x.Y",
        ),
    )

    assert line.endswith(
        "INFO    conserje.tests.logs: sent 2 chunks to 346****66@s.whatsapp.net with Bearer ****"
    )


def test_a_traceback_is_masked_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("conserje.tests.traceback")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise RuntimeError("no route to 34699887766@s.whatsapp.net")
    except RuntimeError:
        logger.exception("send failed")
    finally:
        logger.removeHandler(handler)

    assert "RuntimeError: no route to 346****66@s.whatsapp.net" in stream.getvalue()
    assert "99887" not in stream.getvalue()


def test_json_lines_are_one_masked_object_each_with_the_turn():
    try:
        raise ValueError("token sk-proj-Qw3rTy9UiOp0AsDfGhJkL refused")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "conserje.x", logging.ERROR, __file__, 1, "guest %s", ("+34611223344",), exc_info
    )
    record.turn = "0123456789abcdef"

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "conserje.x"
    assert entry["message"] == "guest +346****44"
    assert entry["turn"] == "0123456789abcdef"
    assert "ValueError: token sk-proj****" in entry["exception"]
    assert "Qw3rTy9" not in line
    assert entry["ts"].endswith("+00:00")


def test_lines_logged_inside_a_turn_carry_its_id():
    inside, outside = logged(
        TextFormatter(),
        (logging.INFO, "run started"),
        turn="feedc0ffee123456",
    ) + logged(TextFormatter(), (logging.INFO, "idle"))

    assert ": [turn feedc0ffee123456] run started" in inside
    assert "[turn" not in outside


def test_a_repeated_warning_is_written_once_per_window_then_says_how_many_were_held():
    clock = Clock()
    repeat = RepeatFilter(60.0, clock=clock)

    def later(seconds):
        def move():
            clock.now += seconds

        return (move, "")

    lines = logged(
        TextFormatter(),
        (logging.WARNING, "chat %s: reply not delivered", "34699887766@s.whatsapp.net"),
        (logging.WARNING, "chat %s: reply not delivered", "34611111122@s.whatsapp.net"),
        (logging.WARNING, "chat %s: reply not delivered", "34622222233@s.whatsapp.net"),
        (logging.WARNING, "journal slow"),
        (logging.INFO, "chat %s: turn done", "x"),
        (logging.INFO, "chat %s: turn done", "y"),
        later(59),
        (logging.WARNING, "chat %s: reply not delivered", "34633333344@s.whatsapp.net"),
        later(2),
        (logging.WARNING, "chat %s: reply not delivered", "34644444455@s.whatsapp.net"),
        (logging.WARNING, "chat %s: reply not delivered", "34655555566@s.whatsapp.net"),
        repeat_filter=repeat,
    )

    messages = [line.partition("conserje.tests.logs: ")[2] for line in lines]
    assert messages == [
        "chat 346****66@s.whatsapp.net: reply not delivered",
        "journal slow",
        "chat x: turn done",
        "chat y: turn done",
        "chat 346****55@s.whatsapp.net: reply not delivered (and 3 more like it, suppressed)",
    ]


def test_a_window_of_zero_writes_every_repeat():
    lines = logged(
        TextFormatter(),
        (logging.WARNING, "same"),
        (logging.WARNING, "same"),
        repeat_filter=RepeatFilter(0),
    )
    assert len(lines) == 2


def test_the_repeat_filter_remembers_a_bounded_number_of_messages():
    clock = Clock()
    repeat = RepeatFilter(60.0, clock=clock)
    calls = [(logging.WARNING, f"distinct message {n}") for n in range(REPEAT_KEYS_LIMIT + 1)]
    logged(TextFormatter(), *calls, repeat_filter=repeat)
    # The first one was forgotten to make room, so it is written again at once.
    assert len(logged(TextFormatter(), calls[0], repeat_filter=repeat)) == 1
    assert logged(TextFormatter(), calls[-1], repeat_filter=repeat) == []


def hot_path_warnings(window, steps, *, level=logging.DEBUG):
    """Warn "queue depth is %d" through a :class:`RepeatLimitedLogger` into a handler like
    the server's; each step first moves the clock by its seconds. The handler's own
    repeat filter sees the first warning half a second after the limiter did (it runs
    later). Return the lines written.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    clock = Clock()
    late = iter([0.5])
    handler.addFilter(RepeatFilter(window, clock=lambda: clock.now + next(late, 0.0)))
    logger = logging.getLogger("conserje.tests.hot")
    logger.propagate = False
    logger.setLevel(level)
    logger.addHandler(handler)
    limited = RepeatLimitedLogger(logger, window, clock=clock)
    try:
        for seconds, depth in steps:
            clock.now += seconds
            limited.warning("queue depth is %d", depth)
    finally:
        logger.removeHandler(handler)
    return [line.partition("conserje.tests.hot: ")[2] for line in stream.getvalue().splitlines()]


def test_a_hot_path_warning_is_logged_once_per_window_then_says_how_many_were_held():
    lines = hot_path_warnings(60.0, [(0, 1), (1, 2), (1, 3), (57, 4), (1, 5), (0.5, 6)])

    # The handler's own filter saw the first line half a second late, yet lets the
    # second through: the limiter already held its repeats back.
    assert lines == ["queue depth is 1", "queue depth is 5 (and 3 more like it, suppressed)"]


def test_a_hot_path_warning_with_a_window_of_zero_is_logged_every_time():
    assert hot_path_warnings(0, [(0, 1), (0, 2), (0, 3)]) == [
        "queue depth is 1",
        "queue depth is 2",
        "queue depth is 3",
    ]


def test_a_hot_path_warning_below_the_logger_s_level_is_not_logged_nor_counted():
    assert hot_path_warnings(60.0, [(0, 1), (0, 2)], level=logging.ERROR) == []


@pytest.mark.parametrize("formatter_class", [TextFormatter, JsonFormatter])
def test_the_server_s_own_secrets_are_hidden_wherever_they_appear(formatter_class):
    formatter = formatter_class(["wh00k-s3cret-2", None, "abc", "whapi-token-9911"])
    record = logging.LogRecord(
        "conserje.x",
        logging.ERROR,
        __file__,
        1,
        "POST %s failed with %s (abc)",
        ("/hook/wh00k-s3cret-2", "whapi-token-9911"),
        None,
    )

    line = formatter.format(record)

    assert "wh00k-s3cret" not in line
    assert "whapi-token" not in line
    assert "/hook/****" in line
    assert "(abc)" in line  # too short to be a secret worth garbling text for


@pytest.fixture
def root_logging():
    """Put the root logger back as it was after a test configures it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class Counted(logging.Handler):
    """Counts the records that reach it, unfiltered."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class Blocked:
    """A Waitress task that holds its thread until ``gate`` opens."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def service(self) -> None:
        self.gate.wait(10)

    def cancel(self) -> None:
        pass


def test_waitress_s_queue_warnings_are_one_line_in_the_log_and_one_on_the_dashboard(
    capsys, root_logging
):
    configure_logging("WARNING", "text", 60.0)
    recent = RecentLogs()
    add_handler(recent)
    raw = Counted()
    waitress_queue = logging.getLogger("waitress.queue")
    waitress_queue.addHandler(raw)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(1)
    gate = threading.Event()
    try:
        # The real dispatcher warns once per task that finds no idle thread.
        for _ in range(50):
            dispatcher.add_task(Blocked(gate))
    finally:
        gate.set()
        wait_for(lambda: not dispatcher.queue, what="the queue drained")
        dispatcher.shutdown()
        waitress_queue.removeHandler(raw)

    (line,) = capsys.readouterr().err.splitlines()
    assert raw.count >= 48
    depth = re.search(r" WARNING waitress.queue: (Task queue depth is \d+)$", line)
    assert depth is not None, line
    assert [r["message"] for r in recent.records()] == [depth.group(1)]


def test_a_repeat_filter_shared_by_handlers_judges_each_record_once():
    clock = Clock()
    repeat = RepeatFilter(60.0, clock=clock)
    logger = logging.getLogger("conserje.tests.shared")
    logger.propagate = False
    streams = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(stream) for stream in streams]
    for handler in handlers:
        handler.setFormatter(TextFormatter())
        handler.addFilter(repeat)
        logger.addHandler(handler)
    try:
        logger.warning("depth %d", 1)
        logger.warning("depth %d", 2)
        clock.now += 61
        logger.warning("depth %d", 3)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)

    first, second = (stream.getvalue().splitlines() for stream in streams)
    assert first == second
    assert [line.partition("shared: ")[2] for line in first] == [
        "depth 1",
        "depth 3 (and 1 more like it, suppressed)",
    ]


def test_separate_repeat_filters_judge_the_same_record_each_on_its_own():
    seen_before, fresh = RepeatFilter(60.0, clock=Clock()), RepeatFilter(60.0, clock=Clock())
    earlier = logging.LogRecord("x", logging.WARNING, __file__, 1, "same %d", (1,), None)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "same %d", (2,), None)
    assert seen_before.filter(earlier)

    assert seen_before.filter(record) is False
    assert fresh.filter(record) is True
    assert seen_before.filter(record) is False  # judged once: asking again changes nothing
