"""``conserje log show``: the journal as a story, one line per event."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from conserje.audit.filters import EventFilter, parse_chat, parse_time
from conserje.audit.format import local_time
from conserje.audit.narrate import narrate
from conserje.audit.problems import damaged, say
from conserje.audit.source import read_events
from conserje.audit.vocabulary import type_names
from conserje.errors import JournalCorrupt
from conserje.eventlog.codec import encode_line
from conserje.eventlog.events import Event
from conserje.logs import mask

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``log show`` to ``parser``."""
    parser.add_argument(
        "--chat",
        type=parse_chat,
        help="only this chat: its full id (34600111222@s.whatsapp.net) or its phone digits; "
        "the chat is then shown unmasked",
    )
    parser.add_argument(
        "--type",
        action="append",
        dest="types",
        choices=type_names(),
        metavar="TYPE",
        help=f"only events of this type (repeat for several): {', '.join(type_names())}",
    )
    parser.add_argument(
        "--since",
        type=parse_time,
        metavar="T",
        help="only events at or after T: 2026-11-22, 2026-11-22T10:00 (local time), "
        "or a time ago: 30m, 2h, 7d",
    )
    parser.add_argument("--until", type=parse_time, metavar="T", help="only events before T")
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines instead: each event as on disk, without its seal (chats unmasked)",
    )


def run(args: argparse.Namespace, journal: Path) -> int:
    """Print the chosen events of ``journal``; return the exit status."""
    chosen = EventFilter(
        chat=args.chat,
        types=frozenset(args.types or ()),
        since=args.since,
        until=args.until,
    )
    write = _as_json if args.json else _as_story(reveal_chat=args.chat is not None)
    shown = 0
    # A progress bar between story lines on the same terminal would garble them.
    progress = sys.stderr.isatty() and not sys.stdout.isatty()
    try:
        for event in read_events(journal, progress=progress):
            if chosen.matches(event):
                sys.stdout.write(write(event))
                shown += 1
    except JournalCorrupt as exc:
        return damaged(exc)
    if not shown:
        say("no events match" if chosen != EventFilter() else "the journal is empty")
    return 0


def _as_json(event: Event) -> str:
    return encode_line(event).decode()


def _as_story(*, reveal_chat: bool) -> Callable[[Event], str]:
    # A journal has few chats and many events; masking each chat once halves the run time.
    hide = functools.lru_cache(maxsize=4096)(mask)

    def line(event: Event) -> str:
        who, what = narrate(event)
        chat = event.chat if reveal_chat else hide(event.chat)
        return f"{local_time(event.ts)}  {chat}  {who:<9}  {what}\n"

    return line
