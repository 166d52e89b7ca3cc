"""``conserje log stats``: what the journal holds, in numbers."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conserje.audit.format import local_time, plural, size
from conserje.audit.problems import damaged
from conserje.audit.source import read_events
from conserje.audit.vocabulary import type_name, type_names
from conserje.errors import JournalCorrupt
from conserje.eventlog.events import Event, ReplySent, TurnFinished, TurnStarted
from conserje.eventlog.reader import journal_bytes
from conserje.eventlog.segments import list_segments

__all__ = ["run"]


@dataclass
class _Tally:
    """Counts kept while reading the journal."""

    by_type: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(type_names(), 0)))
    chats: set[str] = field(default_factory=set)
    first: float | None = None
    last: float | None = None
    turns_started: int = 0
    turns: Counter[str] = field(default_factory=Counter)
    replies_sent: int = 0

    def add(self, event: Event) -> None:
        """Count ``event``."""
        self.by_type[type_name(event)] += 1
        self.chats.add(event.chat)
        self.first = event.ts if self.first is None else self.first
        self.last = event.ts
        if isinstance(event, TurnStarted):
            self.turns_started += 1
        elif isinstance(event, TurnFinished):
            self.turns[event.outcome] += 1
        elif isinstance(event, ReplySent):
            self.replies_sent += 1

    def as_dict(self, segments: int, total: int) -> dict[str, Any]:
        """Return the counts as JSON-ready data, with the journal's files and size."""
        return {
            "events": self.by_type.total(),
            "by_type": dict(self.by_type),
            "chats": len(self.chats),
            "first_ts": self.first,
            "last_ts": self.last,
            "first": None if self.first is None else local_time(self.first),
            "last": None if self.last is None else local_time(self.last),
            "segments": segments,
            "bytes": total,
            "turns_started": self.turns_started,
            "turns": dict(self.turns),
            "replies_sent": self.replies_sent,
        }


def run(args: argparse.Namespace, journal: Path) -> int:
    """Print the numbers of ``journal``; return the exit status."""
    tally, problem = _Tally(), None
    segments = total = 0
    try:
        segments, total = len(list_segments(journal)), journal_bytes(journal)
        for event in read_events(journal):
            tally.add(event)
    except JournalCorrupt as exc:
        problem = exc
    numbers = tally.as_dict(segments, total)
    print(json.dumps(numbers, ensure_ascii=False) if args.json else _text(journal, numbers))
    return 0 if problem is None else damaged(problem)


def _text(journal: Path, n: dict[str, Any]) -> str:
    span = f", from {n['first']} to {n['last']}" if n["events"] else ""
    width = max(map(len, n["by_type"]))
    by_type = "\n".join(f"  {kind:<{width}}  {count}" for kind, count in n["by_type"].items())
    finished = sum(n["turns"].values())
    outcomes = ", ".join(f"{outcome} {count}" for outcome, count in sorted(n["turns"].items()))
    return (
        f"Journal {journal}: {plural(n['segments'], 'segment')}, {size(n['bytes'])}\n"
        f"Events: {n['events']}{span}\n"
        f"Chats: {n['chats']}\n"
        f"By type:\n{by_type}\n"
        f"Turns: {n['turns_started']} started, {finished} finished"
        + (f" ({outcomes})" if outcomes else "")
        + "\n"
        f"Reply chunks sent: {n['replies_sent']}"
    )
