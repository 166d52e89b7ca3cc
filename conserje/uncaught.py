"""Exceptions nobody caught: logged and counted, so that no failure is silent."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from conserje.metrics import Metrics

__all__ = ["watch_threads"]

log = logging.getLogger(__name__)


def watch_threads(metrics: Metrics) -> Callable[[], None]:
    """Log and count every exception that ends a thread; return how to undo it.

    Python's default prints such an exception to stderr, outside the logs and their
    masking, and nothing counts it.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        metrics.unexpected_errors.labels("thread").inc()
        name = args.thread.name if args.thread is not None else "?"
        log.error(
            "thread %s ended by an uncaught %s",
            name,
            args.exc_type.__name__,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    threading.excepthook = hook

    def undo() -> None:
        threading.excepthook = previous

    return undo
