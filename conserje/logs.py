"""Logging set-up: one line per record, as text or JSON, masked, with repeats held back.

Every line is masked after it is formatted, so phone numbers and tokens are hidden
wherever they appear: in the message, its arguments, or an exception's traceback. A
warning repeated many times (the same logger and message template) is written at most
once per window; the next one written says how many were held back. That holds for
every handler added with :func:`add_handler` too (the dashboard's latest warnings), so a
burst such as Waitress's "Task queue depth is N", one per queued request, is one line
everywhere. Lines logged while a turn runs carry its id (the turn's trace id), so
``grep`` finds a turn's whole story.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conserje.config import Settings

__all__ = [
    "LOG_FORMATS",
    "MIN_SECRET_CHARS",
    "REPEAT_KEYS_LIMIT",
    "JsonFormatter",
    "RepeatFilter",
    "RepeatLimitedLogger",
    "TextFormatter",
    "TurnFilter",
    "add_handler",
    "configure_logging",
    "configure_server_logging",
    "held_back",
    "mask",
    "turn_context",
]

LOG_FORMATS = ("text", "json")
"""``LOG_FORMAT`` values: readable one-liners for a terminal, or JSON objects for machines."""

MIN_SECRET_CHARS = 6
"""Secrets shorter than this are not looked for in log lines (see ``configure_logging``)."""

REPEAT_KEYS_LIMIT = 1000
"""Distinct messages :class:`RepeatFilter` remembers; the least recent is forgotten first."""

_PHONE = re.compile(r"(?<![\w.])(\+?\d{3})\d{3,10}(\d{2})(?=@|\b)(?!\.\d)")
_BEARER = re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE)
_SECRET = re.compile(r"\b(sk-[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")

_turn: contextvars.ContextVar[str] = contextvars.ContextVar("conserje_turn", default="")

_VERDICTS = "conserje_repeat_verdicts"
"""The record attribute holding each :class:`RepeatFilter`'s verdict on it, by filter."""

_filters: list[logging.Filter] = []
"""The filters of the log's handler, for the handlers :func:`add_handler` adds."""


def mask(text: str) -> str:
    """Hide phone numbers and tokens in ``text``: ``15552223333`` becomes ``155****33``."""
    text = _PHONE.sub(r"\1****\2", text)
    text = _BEARER.sub(r"\1****", text)
    return _SECRET.sub(r"\1****", text)


@contextlib.contextmanager
def turn_context(turn_id: str) -> Iterator[None]:
    """Mark the lines logged inside the block with ``turn_id``, the turn's trace id."""
    token = _turn.set(turn_id)
    try:
        yield
    finally:
        _turn.reset(token)


class _Repeats:
    """Which messages were let through when, and how many of each were held back since.

    Args:
        window: seconds within which a message is let through once.
        clock: the time source (monotonic seconds).
    """

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def admit(self, key: tuple[str, str]) -> int | None:
        """Return how many like ``key`` were held back before it, or ``None`` to hold it."""
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._window:
            self._seen[key] = (seen[0], seen[1] + 1)
            return None
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        if len(self._seen) > REPEAT_KEYS_LIMIT:
            self._seen.popitem(last=False)
        return seen[1] if seen is not None else 0


class RepeatFilter(logging.Filter):
    """Let the same warning through at most once per ``window`` seconds.

    Records below WARNING always pass. The key is the logger and the message template
    (before its arguments), so "chat X failed" for many chats counts as one message.
    The record let through after a quiet spell carries ``suppressed``, the count of
    those held back, which the formatters print (see :func:`held_back`). A record is
    judged once by each filter: handlers that share one all write it or all hold it back.
    A record that already carries ``suppressed`` was held back upstream
    (:class:`RepeatLimitedLogger`) and passes as it is.

    Args:
        window: seconds; 0 lets everything through.
        clock: the time source (monotonic seconds).
    """

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._repeats = _Repeats(window, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        """Tell whether ``record`` is written; count it when it is held back."""
        if self._window <= 0 or record.levelno < logging.WARNING or hasattr(record, "suppressed"):
            return True
        verdicts: dict[int, bool] = record.__dict__.setdefault(_VERDICTS, {})
        verdict = verdicts.get(id(self))
        if verdict is None:
            verdict = verdicts[id(self)] = self._judge(record)
        return verdict

    def _judge(self, record: logging.LogRecord) -> bool:
        held = self._repeats.admit((record.name, str(record.msg)))
        if held is None:
            return False
        if held:
            record.suppressed = held
        return True


def held_back(record: logging.LogRecord) -> str:
    """Say how many records like ``record`` were held back before it (``""`` for none)."""
    suppressed = getattr(record, "suppressed", 0)
    return f" (and {suppressed} more like it, suppressed)" if suppressed else ""


class RepeatLimitedLogger:
    """Stands in for a library's logger that warns on a hot path; holds repeats back early.

    Waitress warns "Task queue depth is N" from its event loop, under its task queue's
    lock, for every request that waits for a thread: under load, for nearly every
    webhook. :class:`RepeatFilter` writes one per window, but only after the record
    is made and offered to every handler (the dashboard's included). This holds the
    repeats back before any of that, with the same window, and logs what it lets
    through to ``logger`` with the count held back as ``suppressed``.

    Args:
        logger: where the warnings let through go.
        window: seconds within which the same message is logged once; 0 logs them all.
        clock: the time source (monotonic seconds).
    """

    def __init__(
        self, logger: logging.Logger, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._window = window
        self._repeats = _Repeats(window, clock)

    def warning(self, msg: str, *args: object) -> None:
        """Log ``msg % args`` as a warning, unless the same ``msg`` went out within the window."""
        if not self._logger.isEnabledFor(logging.WARNING):
            return
        if self._window <= 0:
            self._logger.warning(msg, *args, stacklevel=2)
            return
        held = self._repeats.admit((self._logger.name, msg))
        if held is not None:
            self._logger.warning(msg, *args, extra={"suppressed": held}, stacklevel=2)


class _MaskingFormatter(logging.Formatter):
    """A formatter that masks what it writes, the server's own secrets included.

    Args:
        secrets: values to hide wherever they appear (the configured tokens and keys,
            which may show in a URL such as ``/hook/<token>``); shorter than
            ``MIN_SECRET_CHARS`` ones are ignored, as hiding them would garble text.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        kept = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
        # Longest first, so a secret that contains another is hidden whole.
        self._secrets = sorted(kept, key=len, reverse=True)

    def _mask(self, line: str) -> str:
        # Before mask(): its phone rule could rewrite the digits of a token first.
        for secret in self._secrets:
            line = line.replace(secret, "****")
        return mask(line)


class TextFormatter(_MaskingFormatter):
    """One readable, masked line: time, level, logger, turn, message, held-back count."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, then mask the whole of it (a traceback included)."""
        turn = getattr(record, "turn", "")
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: "
        line += f"[turn {turn}] " if turn else ""
        line += record.getMessage() + held_back(record)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._mask(line)


class JsonFormatter(_MaskingFormatter):
    """One JSON object per line, masked.

    Its keys: ``ts``, ``level``, ``logger``, ``message`` and, when they apply, ``turn``,
    ``suppressed`` and ``exception`` (the traceback, in the same line).
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON object on one line, masked."""
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        turn = getattr(record, "turn", "")
        if turn:
            entry["turn"] = turn
        suppressed = getattr(record, "suppressed", 0)
        if suppressed:
            entry["suppressed"] = suppressed
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._mask(json.dumps(entry, ensure_ascii=False))


class TurnFilter(logging.Filter):
    """Stamp each record with the turn its thread is running (see :func:`turn_context`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.turn``; never drops a record."""
        if not getattr(record, "turn", ""):
            record.turn = _turn.get()
        return True


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    repeat_window: float = 0.0,
    secrets: Iterable[str | None] = (),
) -> None:
    """Send masked one-line logs to stderr.

    Args:
        level: the least severe level written.
        fmt: ``text`` (readable) or ``json`` (one object per line).
        repeat_window: seconds within which a repeated warning is written once.
        secrets: the server's tokens and keys, hidden wherever they appear.
    """
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets)
    handler.setFormatter(formatter)
    _filters[:] = [RepeatFilter(repeat_window), TurnFilter()]
    for log_filter in _filters:
        handler.addFilter(log_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP call drowns the story of a turn; failures are logged by callers.
    for noisy in ("httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_server_logging(settings: Settings) -> None:
    """Configure logging as ``settings`` say (``LOG_*``), hiding the server's secrets."""
    configure_logging(
        settings.log_level,
        settings.log_format,
        settings.log_repeat_window_ms / 1000,
        secrets=(
            settings.openai_api_key,
            settings.whapi_token,
            settings.webhook_token,
            settings.admin_token,
        ),
    )


def add_handler(handler: logging.Handler) -> None:
    """Add ``handler`` to the root logger behind the log's own filters.

    It then holds back the same repeats as the log (the very same records) and sees
    each line's turn; before :func:`configure_logging`, it is added with no filter.
    """
    for log_filter in _filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
