"""The messages actors send each other. Every one is immutable."""

from __future__ import annotations

from dataclasses import dataclass

from conserje.eventlog.events import Event
from conserje.eventlog.projection import ChatState
from conserje.eventlog.states import ChatStates

__all__ = [
    "Boot",
    "ChatStatus",
    "ClearAll",
    "Compact",
    "Deliver",
    "Passivate",
    "Passivated",
    "Presence",
    "Restart",
    "Resume",
    "StillBusy",
    "Stopped",
    "Tick",
]


@dataclass(frozen=True)
class Deliver:
    """Journaled events for one or more chats (from the webhook, via the supervisor)."""

    events: tuple[Event, ...]


@dataclass(frozen=True)
class Presence:
    """The guest of ``chat`` is ``typing``, ``recording``, or stopped (anything else)."""

    chat: str
    status: str
    at: float


@dataclass(frozen=True)
class Tick:
    """The ticker's heartbeat: deadlines at or before ``now`` are due."""

    now: float


@dataclass(frozen=True)
class Boot:
    """Replay is done: the supervisor takes these projections and starts work."""

    states: ChatStates


@dataclass(frozen=True)
class Resume:
    """A chat actor starting with unfinished work picks it up."""


@dataclass(frozen=True)
class ChatStatus:
    """A chat's state as the operators' views show it, and when it wants its next tick.

    One message carries both, so a chat actor reports to the supervisor once per message
    it handles (a hand-off between threads costs more than the fields).

    Attributes:
        turn_since: when the turn in flight started, or ``None``.
        waiting: guest messages waiting for a turn.
        deadline: when the chat wants a :class:`Tick` (its burst closes), or ``None``.
        paused_until: until when a hand-off keeps the assistant quiet (0: not paused).
    """

    chat: str
    turn_since: float | None
    waiting: int
    deadline: float | None = None
    paused_until: float = 0.0


@dataclass(frozen=True)
class Passivate:
    """The supervisor asks an idle chat actor to stop and hand back its state."""


@dataclass(frozen=True)
class Passivated:
    """A chat actor stopped; ``state`` goes back to the supervisor for the next incarnation."""

    chat: str
    state: ChatState


@dataclass(frozen=True)
class StillBusy:
    """A chat actor declined to stop: work arrived or a burst is waiting."""

    chat: str


@dataclass(frozen=True)
class Compact:
    """The periodic sweep: compact this chat's history if it is over the threshold."""


@dataclass(frozen=True)
class ClearAll:
    """An operator asks for every live chat actor to be restarted from the journal."""


@dataclass(frozen=True)
class Restart:
    """The supervisor asks a chat actor to stop after what it is doing, for a restart."""


@dataclass(frozen=True)
class Stopped:
    """A chat actor stopped to be restarted from the journal.

    Attributes:
        reason: ``failure`` (it failed unexpectedly) or ``cleared`` (an operator asked).
        error: the failure, for the log ("" when cleared).
    """

    chat: str
    reason: str
    error: str = ""
