"""A chat's state as a snapshot encodes it: plain structs that msgspec reads and writes.

Every field after the identifying ones has a default, so a record written before a
field existed still decodes (the older code had no such state, which is what the
default says). Add fields only with defaults; anything else needs a snapshot schema bump.
"""

from __future__ import annotations

from typing import Any

import msgspec

from conserje.eventlog.bounded import BoundedList
from conserje.eventlog.events import MessageReceived, ToolCall
from conserje.eventlog.projection import (
    HISTORY_LIMIT,
    SENT_IDS_LIMIT,
    ChatState,
    HistoryItem,
    TurnInFlight,
)

__all__ = ["ChatRecord", "TurnRecord", "decode_state", "record"]


class TurnRecord(msgspec.Struct, kw_only=True):
    """A :class:`TurnInFlight` as stored."""

    turn_id: str
    messages: list[MessageReceived] = msgspec.field(default_factory=list)
    started_at: float = 0.0
    response_id: str = ""
    background: bool = False
    run_status: str = ""
    reply: str = ""
    intended: dict[int, str] = msgspec.field(default_factory=dict)
    sent: dict[int, str] = msgspec.field(default_factory=dict)
    calls: list[ToolCall] = msgspec.field(default_factory=list)
    last_calls: list[str] = msgspec.field(default_factory=list)
    started_calls: list[str] = msgspec.field(default_factory=list)
    outputs: dict[str, str] = msgspec.field(default_factory=dict)
    correction: str = ""
    audio: dict[int, str] = msgspec.field(default_factory=dict)
    intended_at: dict[int, float] = msgspec.field(default_factory=dict)


class ChatRecord(msgspec.Struct, kw_only=True):
    """A :class:`ChatState` as stored."""

    chat: str
    version: int
    guest_name: str = ""
    pending: list[MessageReceived] = msgspec.field(default_factory=list)
    turn: TurnRecord | None = None
    history: list[tuple[str, str]] = msgspec.field(default_factory=list)
    sent_ids: list[str] = msgspec.field(default_factory=list)
    turns_completed: int = 0
    paused_until: float = 0.0
    paused_by: str = ""
    last_outcome: str = ""
    presence_subscribed: bool = False
    last_input_tokens: int = 0
    compacted: list[dict[str, Any]] = msgspec.field(default_factory=list)
    failed_work: str = ""
    failed_attempts: int = 0


_DECODER = msgspec.json.Decoder(ChatRecord)


def decode_state(data: bytes | memoryview | msgspec.Raw) -> ChatState:
    """Decode one :class:`ChatRecord` (JSON) into the state it stores.

    Raises:
        msgspec.MsgspecError: ``data`` is not such a record.
    """
    return _state(_DECODER.decode(data))


def record(chat: ChatState) -> ChatRecord:
    """Return the record that stores ``chat``."""
    turn = chat.turn
    return ChatRecord(
        chat=chat.chat,
        version=chat.version,
        guest_name=chat.guest_name,
        pending=list(chat.pending.values()),
        turn=None
        if turn is None
        else TurnRecord(
            turn_id=turn.turn_id,
            messages=turn.messages,
            started_at=turn.started_at,
            response_id=turn.response_id,
            background=turn.background,
            run_status=turn.run_status,
            reply=turn.reply,
            intended=turn.intended,
            sent=turn.sent,
            calls=turn.calls,
            last_calls=turn.last_calls,
            started_calls=sorted(turn.started_calls),
            outputs=turn.outputs,
            correction=turn.correction,
            audio=turn.audio,
            intended_at=turn.intended_at,
        ),
        history=[(h.role, h.text) for h in chat.history],
        sent_ids=list(chat.sent_ids),
        turns_completed=chat.turns_completed,
        paused_until=chat.paused_until,
        paused_by=chat.paused_by,
        last_outcome=chat.last_outcome,
        presence_subscribed=chat.presence_subscribed,
        last_input_tokens=chat.last_input_tokens,
        compacted=chat.compacted,
        failed_work=chat.failed_work,
        failed_attempts=chat.failed_attempts,
    )


def _state(stored: ChatRecord) -> ChatState:
    turn = stored.turn
    return ChatState(
        chat=stored.chat,
        version=stored.version,
        guest_name=stored.guest_name,
        pending={m.message_id: m for m in stored.pending},
        turn=None
        if turn is None
        else TurnInFlight(
            turn.turn_id,
            turn.messages,
            turn.started_at,
            turn.response_id,
            turn.background,
            turn.run_status,
            turn.reply,
            turn.intended,
            turn.sent,
            turn.calls,
            turn.last_calls,
            set(turn.started_calls),
            turn.outputs,
            turn.correction,
            turn.audio,
            turn.intended_at,
        ),
        history=BoundedList(HISTORY_LIMIT, (HistoryItem(r, t) for r, t in stored.history)),
        sent_ids=BoundedList(SENT_IDS_LIMIT, stored.sent_ids),
        turns_completed=stored.turns_completed,
        paused_until=stored.paused_until,
        paused_by=stored.paused_by,
        last_outcome=stored.last_outcome,
        presence_subscribed=stored.presence_subscribed,
        last_input_tokens=stored.last_input_tokens,
        compacted=stored.compacted,
        failed_work=stored.failed_work,
        failed_attempts=stored.failed_attempts,
    )
