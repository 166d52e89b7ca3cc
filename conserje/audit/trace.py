"""``conserje log trace``: one turn's stages, with times and durations, and where time went.

A turn's trace id is its turn id: the server's log lines of that turn carry it
(``[turn <id>]``, or ``"turn"`` in JSON logs), and the journal names it in every step.
The trace starts at the first guest message the turn answered, so the wait in the
buffer shows, then follows the turn's journaled steps: run started and finished, tool
calls, reply chunks sent, the end. One read of the journal, keeping only the messages
not yet taken by a turn and the turns being followed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from conserje.audit.filters import EventFilter, parse_chat
from conserje.audit.narrate import narrate
from conserje.audit.problems import damaged, say
from conserje.audit.source import AuditError, read_events
from conserje.audit.vocabulary import type_name
from conserje.errors import JournalCorrupt
from conserje.eventlog import events as ev
from conserje.logs import mask

__all__ = ["Trace", "add_arguments", "run", "traces"]

NOT_FOUND = 1
"""Exit status when no turn matches."""


@dataclass
class Trace:
    """A turn's events in order: the guest messages it took, then its own steps.

    Attributes:
        turn_id: the turn (its trace id).
        chat: the chat it answered.
        events: the messages it took (and typing that held them), then its steps.
        outcome: how it ended ("" while in flight; ``quarantined`` when set aside).
        error: why it failed, if it did.
    """

    turn_id: str
    chat: str
    events: list[ev.Event] = field(default_factory=list)
    outcome: str = ""
    error: str = ""

    @property
    def started(self) -> float:
        """When the first event of the trace happened."""
        return self.events[0].ts

    @property
    def seconds(self) -> float:
        """Time from the first guest message to the last step."""
        return self.events[-1].ts - self.started

    def spent(self) -> dict[str, float]:
        """Seconds spent waiting in the buffer, in model runs, in tools and sending."""
        spent = {"buffer": 0.0, "model": 0.0, "tools": 0.0, "sending": 0.0}
        opened: dict[str, float] = {}
        for event in self.events:
            match event:
                case ev.TurnStarted():
                    spent["buffer"] = event.ts - self.started
                case ev.RunStarted():
                    opened["run"] = event.ts
                case ev.RunFinished() if "run" in opened:
                    spent["model"] += event.ts - opened.pop("run")
                case ev.ToolFinished():
                    spent["tools"] += event.duration_ms / 1000
                case ev.ReplySending():
                    opened[f"chunk {event.chunk}"] = event.ts
                case ev.ReplySent() if f"chunk {event.chunk}" in opened:
                    spent["sending"] += event.ts - opened.pop(f"chunk {event.chunk}")
        return spent


def traces(events: Iterable[ev.Event], chosen: EventFilter | None = None) -> Iterator[Trace]:
    """Yield the trace of every turn in ``events`` once it has ended (or ends the journal).

    Args:
        events: the journal's events, in order.
        chosen: only turns of the chats this filter lets through (by chat only).
    """
    follower = _Follower()
    for event in events:
        if chosen is None or chosen.matches(event):
            ended = follower.take(event)
            if ended is not None:
                yield ended
    yield from follower.open.values()


class _Follower:
    """Follows turns through the journal: messages waiting, typing, turns in flight."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], ev.Event] = {}
        self.held: dict[str, list[ev.Event]] = {}
        self.open: dict[str, Trace] = {}

    def take(self, event: ev.Event) -> Trace | None:
        """Follow one event; return the trace it ends, if it ends one."""
        match event:
            case ev.MessageReceived():
                self.waiting[(event.chat, event.message_id)] = event
            case ev.TurnHeld():
                self.held.setdefault(event.chat, []).append(event)
            case ev.TurnStarted():
                self._start(event)
            case ev.TurnFinished():
                return self._end(event.turn_id, event, event.outcome, event.error)
            case ev.MessagesQuarantined():
                for message_id in event.message_ids:
                    self.waiting.pop((event.chat, message_id), None)
                return self._end(event.turn_id, event, "quarantined", event.error)
            case ev.HandlerFailed() if event.work in self.open:
                # A failure during the turn: why its answer came late (after a restart).
                self.open[event.work].events.append(event)
            case _:
                turn_id = getattr(event, "turn_id", None)
                if turn_id in self.open:
                    self.open[turn_id].events.append(event)
        return None

    def _start(self, event: ev.TurnStarted) -> None:
        keys = [(event.chat, i) for i in event.message_ids]
        taken = [self.waiting.pop(key) for key in keys if key in self.waiting]
        first = min((m.ts for m in taken), default=event.ts)
        typing = [h for h in self.held.pop(event.chat, []) if h.ts >= first]
        before = sorted([*taken, *typing], key=lambda e: e.seq)
        self.open[event.turn_id] = Trace(event.turn_id, event.chat, [*before, event])

    def _end(self, turn_id: str, event: ev.Event, outcome: str, error: str) -> Trace | None:
        trace = self.open.pop(turn_id, None)
        if trace is not None:
            trace.events.append(event)
            trace.outcome, trace.error = outcome, error
        return trace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``log trace`` to ``parser``."""
    parser.add_argument(
        "turn",
        nargs="?",
        help="the turn id: the trace id the server's log lines carry ([turn <id>])",
    )
    parser.add_argument(
        "--chat",
        type=parse_chat,
        help="the latest turn of this chat: its full id or its phone digits "
        "(the chat is then shown unmasked)",
    )
    parser.add_argument(
        "--slowest", action="store_true", help="with --chat: its slowest turn instead"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead")


def run(args: argparse.Namespace, journal: Path) -> int:
    """Print the chosen turn's trace; return the exit status."""
    if (args.turn is None) == (args.chat is None):
        raise AuditError("name a turn id, or a chat with --chat (not both)")
    if args.slowest and args.chat is None:
        raise AuditError("--slowest picks among a chat's turns: add --chat")
    chosen = EventFilter(chat=args.chat) if args.chat else None
    found: Trace | None = None
    try:
        for trace in traces(read_events(journal), chosen):
            if args.turn is not None:
                if trace.turn_id == args.turn:
                    found = trace
                    break
            elif not args.slowest or found is None or trace.seconds > found.seconds:
                found = trace
    except JournalCorrupt as exc:
        return damaged(exc)
    if found is None:
        say(f"no turn {args.turn} in the journal" if args.turn else "that chat has no turn")
        return NOT_FOUND
    if args.json:
        sys.stdout.write(json.dumps(_as_json(found), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_as_text(found, reveal_chat=args.chat is not None))
    return 0


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def _stages(trace: Trace) -> Iterator[tuple[ev.Event, float, float]]:
    previous = trace.started
    for event in trace.events:
        yield event, event.ts - trace.started, event.ts - previous
        previous = event.ts


def _as_text(trace: Trace, *, reveal_chat: bool) -> str:
    chat = trace.chat if reveal_chat else mask(trace.chat)
    ending = trace.outcome or "still in flight"
    lines = [
        f"turn {trace.turn_id} in {chat}: {ending} {trace.seconds:.3f} s after the first message"
        + (f" ({trace.error})" if trace.error else ""),
        "",
        f"{'time':<29}  {'since start':>11}  {'step':>9}  {'who':<9}  what",
    ]
    for event, since_start, step in _stages(trace):
        who, what = narrate(event)
        lines.append(
            f"{_clock(event.ts):<29}  {since_start:>9.3f} s  {step:>7.3f} s  {who:<9}  {what}"
        )
    spent = trace.spent()
    other = max(0.0, trace.seconds - sum(spent.values()))
    lines += ["", "where the time went:"]
    for name, seconds in (*spent.items(), ("other", other)):
        share = seconds / trace.seconds * 100 if trace.seconds else 0.0
        lines.append(f"  {name:<8} {seconds:>9.3f} s  {share:5.1f} %")
    slowest, _, gap = max(_stages(trace), key=lambda stage: stage[2])
    lines.append(f"longest wait: {gap:.3f} s before {type_name(slowest)}")
    return "\n".join(lines) + "\n"


def _as_json(trace: Trace) -> dict[str, object]:
    stages = []
    for event, since_start, step in _stages(trace):
        who, what = narrate(event)
        stages.append(
            {
                "type": type_name(event),
                "ts": event.ts,
                "sinceStart": round(since_start, 6),
                "step": round(step, 6),
                "who": who,
                "what": what,
            }
        )
    return {
        "turnId": trace.turn_id,
        "chat": trace.chat,
        "outcome": trace.outcome,
        "error": trace.error,
        "seconds": round(trace.seconds, 6),
        "spent": {name: round(value, 6) for name, value in trace.spent().items()},
        "stages": stages,
    }
