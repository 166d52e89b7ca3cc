"""Snapshots while the server runs: each closed segment is folded into a new snapshot.

Boot replays at most the segments written since the last snapshot, so its time stays
flat however long the server has been up. The folding happens in a thread of its own,
from the files alone: it reads the newest snapshot and the closed segments after it,
never the live chat actors' state, so it needs no coordination with them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from conserje.errors import JournalError
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.restore import restore
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.snapshot import write_snapshot

__all__ = ["Snapshotter", "fold"]

log = logging.getLogger(__name__)


def fold(journal_dir: Path, snapshot_dir: Path, before_segment: int) -> Path | None:
    """Write a snapshot at the end of the segments before ``before_segment``.

    Returns:
        The new snapshot, or ``None`` when the newest one already covers them.
    """
    journal = JsonlJournal(journal_dir, clock=time.time)
    seen = SeenIds()
    restored = restore(journal, snapshot_dir, seen, before_segment=before_segment)
    if restored.snapshot is not None and restored.replayed == 0:
        return None
    return write_snapshot(snapshot_dir, journal.position(), restored.states, seen.recent())


class Snapshotter:
    """Folds closed segments into snapshots, one request at a time, in the background.

    Args:
        journal_dir: the journal's segments.
        snapshot_dir: where snapshots go.
        folder: the folding function (:func:`fold`; replaceable in tests).
    """

    def __init__(
        self,
        journal_dir: Path,
        snapshot_dir: Path,
        folder: Callable[[Path, Path, int], Path | None] = fold,
    ) -> None:
        self._journal_dir = journal_dir
        self._snapshot_dir = snapshot_dir
        self._folder = folder
        self._requests: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="snapshotter", daemon=True)
        self.written = 0

    def start(self) -> None:
        """Start waiting for requests."""
        self._thread.start()

    def request(self, before_segment: int) -> None:
        """Ask for a snapshot of everything before ``before_segment`` (non-blocking)."""
        self._requests.put(before_segment)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the request in progress, drop the rest, and stop."""
        if not self._thread.is_alive():
            return
        self._requests.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            before = self._requests.get()
            # Only the newest request matters: it covers every older one.
            while before is not None:
                try:
                    newer = self._requests.get_nowait()
                except queue.Empty:
                    break
                before = newer
            if before is None:
                return
            started = time.monotonic()
            try:
                path = self._folder(self._journal_dir, self._snapshot_dir, before)
            except (JournalError, OSError):
                log.exception("snapshot before seq %d failed; boot will replay more", before)
                continue
            if path is not None:
                self.written += 1
                log.info("snapshot %s written in %.2f s", path.name, time.monotonic() - started)
