"""Rebuilding every chat's state at boot: the newest usable snapshot, then the journal after it."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from conserje.errors import JournalCorrupt, SnapshotDamaged
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.projection import ChatState
from conserje.eventlog.reader import read_journal
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.snapshot import LoadedSnapshot, load_snapshots
from conserje.eventlog.states import ChatStates

__all__ = ["Restored", "rebuild_chats", "restore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restored:
    """The outcome of :func:`restore`.

    Attributes:
        states: every chat's projection at the end of the journal (those from the
            snapshot that the journal after it does not touch are decoded on use).
        snapshot: the snapshot boot started from, if any.
        replayed: events read from the journal after it.
    """

    states: ChatStates
    snapshot: Path | None
    replayed: int


def restore(
    journal: JsonlJournal,
    snapshot_dir: Path,
    seen: SeenIds,
    *,
    before_segment: int | None = None,
) -> Restored:
    """Rebuild state from the newest snapshot that the journal confirms, else from scratch.

    A snapshot the journal does not chain from (restored from another backup, taken
    past the journal's end), or holding a chat the journal after it needs but that
    cannot be decoded, is skipped with a warning: the journal is the truth.

    Args:
        journal: the journal to replay (not yet started).
        snapshot_dir: where snapshots are.
        seen: receives the ids of every guest message restored.
        before_segment: stop before the segment starting at this seq (see
            :meth:`JsonlJournal.replay`).

    Raises:
        JournalCorrupt: the journal itself is damaged.
    """
    for snapshot in load_snapshots(snapshot_dir):
        try:
            return _replay(journal, snapshot, seen, before_segment)
        except (JournalCorrupt, SnapshotDamaged) as exc:
            log.warning(
                "snapshot %s does not match the journal or cannot be read (%s); "
                "trying an older start",
                snapshot.path,
                exc,
            )
    return _replay(journal, None, seen, before_segment)


def _replay(
    journal: JsonlJournal,
    snapshot: LoadedSnapshot | None,
    seen: SeenIds,
    before_segment: int | None,
) -> Restored:
    states = snapshot.states if snapshot else ChatStates()
    if snapshot:
        seen.load(snapshot.seen)
    # The chats the tail touches, decoded: a dict lookup per event, as without snapshots.
    touched: dict[str, ChatState] = {}
    count = 0
    start = snapshot.position if snapshot else None
    for event in journal.replay(start, before_segment=before_segment):
        state = touched.get(event.chat)
        if state is None:
            state = states.get(event.chat)
            if state is None:
                state = states[event.chat] = ChatState(event.chat)
            touched[event.chat] = state
        state.apply(event)
        if isinstance(event, MessageReceived):
            seen.claim((event.message_id,))
        count += 1
    return Restored(states, snapshot.path if snapshot else None, count)


def rebuild_chats(directory: Path, chats: Collection[str]) -> tuple[dict[str, ChatState], int]:
    """Rebuild some chats' states from the journal on disk while the server writes it.

    Used to restart chat actors: their memory is not trusted, the journal is. An
    append still being written is left out; whoever made it delivers it afterwards.

    Returns:
        The chats' states (a chat with no events is absent) and the seq of the last
        event read: events after it are not in the states.

    Raises:
        JournalCorrupt: the journal is damaged.
    """
    wanted = set(chats)
    states: dict[str, ChatState] = {}
    last_seq = 0
    for line in read_journal(directory):
        event = line.event
        last_seq = event.seq
        if event.chat in wanted:
            state = states.get(event.chat)
            if state is None:
                state = states[event.chat] = ChatState(event.chat)
            state.apply(event)
    return states, last_seq
