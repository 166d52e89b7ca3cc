"""How the audit commands tell the operator that something went wrong."""

from __future__ import annotations

import sys
from pathlib import Path

from conserje.errors import JournalCorrupt

__all__ = ["DAMAGED", "UNUSABLE", "damaged", "say", "where"]

DAMAGED = 1
"""Exit status when the journal is damaged."""

UNUSABLE = 2
"""Exit status when the command cannot run: bad arguments, no data dir, unreadable files."""


def say(message: str) -> None:
    """Write ``message`` to stderr as one ``conserje log:`` line."""
    print(f"conserje log: {message}", file=sys.stderr)


def where(path: Path, line: int) -> str:
    """Name a place in the journal: ``FILE, line N``, or ``FILE`` for the whole file."""
    return f"{path}, line {line}" if line else str(path)


def damaged(exc: JournalCorrupt) -> int:
    """Report damage found while reading, after what was read; return the exit status."""
    sys.stdout.flush()
    say(
        f"the journal is damaged at {where(exc.path, exc.line)}: {exc.reason}; "
        "nothing after it was read ('conserje log verify' says what you can do)"
    )
    return DAMAGED
