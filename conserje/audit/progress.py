"""A one-line progress bar on stderr (redrawn after a carriage return) for long reads."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO

from conserje.audit.format import size

__all__ = ["Progress"]

_INTERVAL = 0.1
_WIDTH = 24


class Progress:
    """Draws ``label [#####.....] 42% 1.2 MiB of 2.9 MiB`` over itself.

    It draws only on a terminal, at most ten times a second, and not before the work
    has taken a tenth of a second, so quick reads and piped output stay quiet. Leaving
    the ``with`` block wipes the line.

    Args:
        total: bytes the work will go through.
        label: what is being done, e.g. ``checking``.
        enabled: draw at all; by default, when ``stream`` is a terminal.
        stream: where to draw (default: stderr).
        clock: monotonic seconds, for tests.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._clock = clock
        self._last = clock()
        self._drawn = 0

    def __call__(self, done: int) -> None:
        """Report ``done`` bytes so far; redraws if the last drawing is old enough."""
        now = self._clock()
        if not self._enabled or now - self._last < _INTERVAL:
            return
        self._last = now
        share = min(done / self.total, 1.0) if self.total else 1.0
        filled = round(share * _WIDTH)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {share:4.0%} "
            f"{size(done)} of {size(self.total)}"
        )
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0
