"""Bounded waiting for tests: poll a condition until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

_T = TypeVar("_T")


def wait_for(
    condition: Callable[[], _T], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> _T:
    """Return ``condition()``'s first truthy value, polling until ``timeout`` seconds.

    Raises:
        TimeoutError: the condition stayed false; ``what`` names it in the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout} s: {what or condition!r}")
        time.sleep(interval)
