"""The journal an audit command reads: where it is, and its events as they are read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from conserje.audit.progress import Progress
from conserje.errors import ConserjeError
from conserje.eventlog.events import Event
from conserje.eventlog.reader import journal_bytes, read_journal

__all__ = ["AuditError", "data_dir", "journal_directory", "read_events"]


class AuditError(ConserjeError):
    """An audit command cannot run as asked (exit status 2); the message says why."""


def data_dir(given: Path | None) -> Path:
    """Return ``--data-dir`` if given, else ``$CONSERJE_DATA_DIR``, else ``./data``."""
    return given or Path(os.environ.get("CONSERJE_DATA_DIR", "").strip() or "data")


def journal_directory(data: Path) -> Path:
    """Return the journal directory inside the data dir ``data``.

    Raises:
        AuditError: there is no such data dir, or no journal in it.
    """
    if not data.exists():
        raise AuditError(
            f"the data dir {data} does not exist; name it with --data-dir or CONSERJE_DATA_DIR"
        )
    if not data.is_dir():
        raise AuditError(f"{data} is not a directory; --data-dir names the server's data dir")
    journal = data / "journal"
    if not journal.is_dir():
        hint = ""
        if any(data.glob("*.jsonl")):
            hint = "; it holds segment files itself, so its parent may be the data dir"
        raise AuditError(f"there is no journal in {data} ({journal} is not a directory){hint}")
    return journal


def read_events(journal: Path, *, progress: bool | None = None) -> Iterator[Event]:
    """Yield the journal's intact events, with a progress bar while reading.

    Args:
        journal: the journal directory.
        progress: draw the bar; by default, when stderr is a terminal.

    Raises:
        JournalCorrupt: after every event before it, at the first damage.
    """
    with Progress(journal_bytes(journal), "reading", enabled=progress) as bar:
        done = 0
        for read in read_journal(journal):
            done += read.raw_size
            bar(done)
            yield read.event
