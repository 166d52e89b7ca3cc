"""A chat's state, rebuilt from its events: the only in-memory truth about a chat.

:class:`ChatState` is a projection: applying a chat's events in order always gives the
same state, whether they come from replay at boot or from live appends. The chat actor
owns one and applies every event it (or the webhook) journals for its chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from conserje.eventlog.bounded import BoundedList
from conserje.eventlog.events import (
    AgentMessage,
    ContextReset,
    Event,
    HandlerFailed,
    HandoffEnded,
    HandoffStarted,
    InterimSent,
    MediaFailed,
    MediaStored,
    MediaTranscribed,
    MessageReceived,
    MessagesQuarantined,
    PresenceSubscribed,
    ReplyRejected,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    ThreadCompacted,
    ToolCall,
    ToolCalled,
    ToolFinished,
    TurnFinished,
    TurnStarted,
)

__all__ = [
    "HISTORY_LIMIT",
    "SENT_IDS_LIMIT",
    "SUMMARY_PREFIX",
    "ChatState",
    "HistoryItem",
    "TurnInFlight",
    "guest_words",
]

HISTORY_LIMIT = 200
"""Items of history kept per chat; the oldest fall off (compaction will replace this)."""

SUMMARY_PREFIX = "Summary of the conversation before the messages that follow:\n"
"""How a compaction's summary is introduced to the model."""

SENT_IDS_LIMIT = 500
"""Whapi ids of our own sends remembered per chat, to recognise their echoes."""


def guest_words(message: MessageReceived) -> str:
    """Return what the model reads of a guest's message: its text, or its media in words.

    A voice note reads as its transcript; a photo or document as a mark and its caption
    (the file itself goes to the model once, in the turn that consumes it); media that
    could not be used reads as the note that says so.
    """
    media = message.media
    if media is None:
        return message.text
    caption = f" {message.text}" if message.text else ""
    if not media.ready:
        article = "an" if media.kind[:1] in "aeiou" else "a"
        return f"(the guest sent {article} {media.kind} that was not processed){caption}"
    if media.note:
        return f"({media.note}){caption}"
    if media.kind in ("voice", "audio"):
        return f"(voice note) {media.transcript}{caption}"
    if media.kind == "image":
        return f"(photo){caption}"
    return f"(document {media.name or media.file}){caption}"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One utterance in the chat's history: ``role`` is ``user`` or ``assistant``."""

    role: str
    text: str


@dataclass
class TurnInFlight:
    """A turn that started and has not finished (after a crash: one to reconcile)."""

    turn_id: str
    messages: list[MessageReceived]
    started_at: float
    response_id: str = ""
    background: bool = False
    run_status: str = ""
    reply: str = ""
    intended: dict[int, str] = field(default_factory=dict)
    sent: dict[int, str] = field(default_factory=dict)
    calls: list[ToolCall] = field(default_factory=list)
    last_calls: list[str] = field(default_factory=list)
    started_calls: set[str] = field(default_factory=set)
    outputs: dict[str, str] = field(default_factory=dict)
    correction: str = ""
    audio: dict[int, str] = field(default_factory=dict)
    intended_at: dict[int, float] = field(default_factory=dict)

    @property
    def uncertain_chunks(self) -> list[int]:
        """Chunks whose send was intended but never confirmed."""
        return sorted(set(self.intended) - set(self.sent))

    @property
    def pending_calls(self) -> list[ToolCall]:
        """Tool calls the model asked for that have no result yet."""
        return [c for c in self.calls if c.call_id not in self.outputs]

    @property
    def needs_run(self) -> bool:
        """Tell whether the model must run (again) before there is a reply to send."""
        if self.run_status != "completed":
            return True
        return bool(self.last_calls) and not self.pending_calls


@dataclass(slots=True)
class ChatState:
    """Everything known about one chat, derived from its journaled events."""

    chat: str
    version: int = 0
    guest_name: str = ""
    pending: dict[str, MessageReceived] = field(default_factory=dict)
    turn: TurnInFlight | None = None
    history: BoundedList[HistoryItem] = field(default_factory=lambda: BoundedList(HISTORY_LIMIT))
    sent_ids: BoundedList[str] = field(default_factory=lambda: BoundedList(SENT_IDS_LIMIT))
    turns_completed: int = 0
    paused_until: float = 0.0
    paused_by: str = ""
    last_outcome: str = ""
    presence_subscribed: bool = False
    last_input_tokens: int = 0
    compacted: list[dict[str, Any]] = field(default_factory=list)
    failed_work: str = ""
    failed_attempts: int = 0

    def paused(self, now: float) -> bool:
        """Tell whether a hand-off keeps the assistant quiet at ``now``."""
        return now < self.paused_until

    @property
    def has_work(self) -> bool:
        """Tell whether messages wait or a turn is unfinished."""
        return bool(self.pending) or self.turn is not None

    def apply(self, event: Event) -> None:
        """Fold one event of this chat into the state.

        Live, a chat's events reach its actor slightly out of journal order (the
        webhook appends guest messages while the actor appends its turn's steps), so
        folding is written to give the same state either way: a turn consumes only the
        messages it names, and every other step names its turn.

        Raises:
            ValueError: the event belongs to another chat or to a turn not in flight.
        """
        if event.chat != self.chat:
            raise ValueError(f"event for {event.chat!r} applied to {self.chat!r}")
        self.version = max(self.version, event.version)
        match event:
            case MessageReceived():
                self.pending[event.message_id] = event
                if event.sender:
                    self.guest_name = event.sender
            case TurnStarted():
                consumed = [self.pending.pop(i) for i in event.message_ids if i in self.pending]
                # Whapi does not deliver in order; the guest's own clock orders a burst.
                consumed.sort(key=lambda m: (m.sent_at, m.seq))
                self.turn = TurnInFlight(event.turn_id, consumed, event.ts)
                if not self.pending:
                    # An emptied dict keeps its grown table; a passivated chat should not.
                    self.pending = {}
            case TurnFinished():
                self._finish(self._turn(event.turn_id))
                self.last_outcome = event.outcome
            case RunStarted() | RunFinished() | ToolCalled() | ToolFinished():
                self._step(event)
            case ReplySending() | ReplySent() | ReplyRejected():
                self._step(event)
            case MediaTranscribed() | MediaStored() | MediaFailed():
                self._media(event)
            case HandlerFailed() | MessagesQuarantined():
                self._failure(event)
            case _:
                self._context(event)

    def _failure(self, event: HandlerFailed | MessagesQuarantined) -> None:
        """Fold a failure: count the attempt, or set the work that failed twice aside."""
        if isinstance(event, HandlerFailed):
            self.failed_work = event.work
            self.failed_attempts = event.attempt
            return
        for message_id in event.message_ids:
            self.pending.pop(message_id, None)
        if self.turn is not None and self.turn.turn_id == event.turn_id:
            self.turn = None
        self.last_outcome = "quarantined"
        self.failed_work = ""
        self.failed_attempts = 0

    def _context(self, event: Event) -> None:
        """Fold an event about the chat's context: history, pauses, presence."""
        match event:
            case InterimSent():
                self.sent_ids.append(event.whapi_id)
            case AgentMessage():
                self.history.append(HistoryItem("assistant", event.text))
            case HandoffStarted():
                self.paused_until = max(self.paused_until, event.until)
                self.paused_by = event.by
            case HandoffEnded():
                self.paused_until = 0.0
                self.paused_by = ""
            case PresenceSubscribed():
                self.presence_subscribed = True
            case ThreadCompacted():
                kept = list(self.history)[-event.kept :] if event.kept else []
                self.history.clear()
                if event.method == "server":
                    self.compacted = list(event.items)
                else:
                    self.history.append(HistoryItem("developer", SUMMARY_PREFIX + event.summary))
                self.history.extend(kept)
                self.last_input_tokens = 0
            case ContextReset():
                self.history.clear()
                self.compacted = []
                self.last_input_tokens = 0

    def _media(self, event: MediaTranscribed | MediaStored | MediaFailed) -> None:
        """Fold how a waiting message's media turned out into that message."""
        message = self.pending.get(event.message_id)
        if message is None or message.media is None:
            return
        match event:
            case MediaTranscribed():
                done = {"transcript": event.transcript, "file": event.file}
            case MediaStored():
                done = {"file": event.file, "mime": event.mime}
            case MediaFailed():
                done = {"note": event.note}
        media = msgspec.structs.replace(message.media, ready=True, **done)
        self.pending[event.message_id] = msgspec.structs.replace(message, media=media)

    def _step(self, event: Event) -> None:
        """Fold a step of the turn in flight."""
        match event:
            case RunStarted():
                turn = self._turn(event.turn_id)
                turn.response_id = event.response_id
                turn.background = event.background
                turn.run_status = "started"
                turn.reply = ""
                turn.last_calls = []
            case RunFinished():
                turn = self._turn(event.turn_id)
                turn.run_status = event.status
                turn.reply = event.text
                turn.calls.extend(event.calls)
                turn.last_calls = [c.call_id for c in event.calls]
                if event.usage.input_tokens:
                    self.last_input_tokens = event.usage.input_tokens
            case ToolCalled():
                self._turn(event.turn_id).started_calls.add(event.call_id)
            case ToolFinished():
                self._turn(event.turn_id).outputs[event.call_id] = event.output
            case ReplyRejected():
                turn = self._turn(event.turn_id)
                turn.correction = event.instruction
                turn.run_status = "rejected"
            case ReplySending():
                turn = self._turn(event.turn_id)
                turn.intended[event.chunk] = event.text
                if event.audio:
                    turn.audio[event.chunk] = event.audio
                else:
                    turn.audio.pop(event.chunk, None)
                turn.intended_at[event.chunk] = event.ts
            case ReplySent():
                self._turn(event.turn_id).sent[event.chunk] = event.whapi_id
                self.sent_ids.append(event.whapi_id)

    def _turn(self, turn_id: str) -> TurnInFlight:
        if self.turn is None or self.turn.turn_id != turn_id:
            raise ValueError(f"event for turn {turn_id!r}, which is not in flight in {self.chat!r}")
        return self.turn

    def _finish(self, turn: TurnInFlight) -> None:
        if turn.messages:
            self.history.append(HistoryItem("user", "\n".join(map(guest_words, turn.messages))))
        sent = [turn.intended[c] for c in sorted(turn.sent) if c in turn.intended]
        if sent:
            self.history.append(HistoryItem("assistant", "\n\n".join(sent)))
        self.turn = None
        self.turns_completed += 1
