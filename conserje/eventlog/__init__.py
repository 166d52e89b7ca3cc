"""The journal: event vocabulary, the JSONL store, and the chat projection."""

from conserje.eventlog.events import (
    EVENT_TYPES,
    Event,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    TurnFinished,
    TurnStarted,
)
from conserje.eventlog.jsonl import JsonlJournal

__all__ = [
    "EVENT_TYPES",
    "Event",
    "JsonlJournal",
    "MessageReceived",
    "ReplySending",
    "ReplySent",
    "RunFinished",
    "RunStarted",
    "TurnFinished",
    "TurnStarted",
]
