"""Snapshots: every chat's projected state at one journal position, so boot can skip history.

A snapshot is a cache, never the truth: it is written atomically (temporary file,
``fsync``, rename, ``fsync`` of the directory), sealed with a checksum, and a damaged
or unusable one is ignored with a warning and boot replays from an older one or from
the beginning. The journal it was taken from is what makes it checkable: replay after
it must chain from the hash it recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from conserje.eventlog.bounded import BoundedList
from conserje.eventlog.events import MessageReceived, ToolCall
from conserje.eventlog.jsonl import Position
from conserje.eventlog.projection import (
    HISTORY_LIMIT,
    SENT_IDS_LIMIT,
    ChatState,
    HistoryItem,
    TurnInFlight,
)
from conserje.eventlog.segments import fsync_dir

__all__ = ["KEEP", "LoadedSnapshot", "load_snapshots", "write_snapshot"]

log = logging.getLogger(__name__)

KEEP = 2
"""Snapshots kept; the older one is the fallback if the newer one proves unusable."""

_FORMAT = "conserje-snapshot"
_NAME = re.compile(r"^(\d{20})\.snapshot$")
_TRAILER = re.compile(rb"\n#blake2b:([0-9a-f]{32})\n\Z")


# Every field after the identifying ones has a default, so a snapshot written before a
# field existed still loads (the older code had no such state, which is what the
# default says). Add fields only with defaults; anything else needs a schema bump.


class _Turn(msgspec.Struct, kw_only=True):
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


class _Chat(msgspec.Struct, kw_only=True):
    chat: str
    version: int
    guest_name: str = ""
    pending: list[MessageReceived] = msgspec.field(default_factory=list)
    turn: _Turn | None = None
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


class _Snapshot(msgspec.Struct, kw_only=True):
    format: str
    schema: int
    seq: int
    h: str
    chats: list[_Chat]
    seen: list[str]


@dataclass(frozen=True)
class LoadedSnapshot:
    """A snapshot read back: where it stands in the journal, and the state there."""

    path: Path
    position: Position
    states: dict[str, ChatState]
    seen: list[str]


def write_snapshot(
    directory: Path, position: Position, states: Mapping[str, ChatState], seen: Iterable[str]
) -> Path:
    """Write a snapshot of ``states`` at ``position`` atomically; keep the newest :data:`KEEP`."""
    directory.mkdir(parents=True, exist_ok=True)
    body = msgspec.json.encode(
        _Snapshot(
            format=_FORMAT,
            schema=1,
            seq=position.seq,
            h=position.h,
            chats=[_record(state) for state in states.values()],
            seen=list(seen),
        )
    )
    digest = hashlib.blake2b(body, digest_size=16).hexdigest().encode()
    final = directory / f"{position.seq:020d}.snapshot"
    temporary = final.with_suffix(".tmp")
    with temporary.open("wb") as f:
        f.write(body + b"\n#blake2b:" + digest + b"\n")
        f.flush()
        os.fsync(f.fileno())
    temporary.replace(final)
    fsync_dir(directory)
    for old in _snapshots(directory)[KEEP:]:
        old.unlink()
    return final


def load_snapshots(directory: Path) -> list[LoadedSnapshot]:
    """Return the usable snapshots, newest first; damaged ones are reported and skipped."""
    loaded = []
    for path in _snapshots(directory):
        try:
            loaded.append(_load(path))
        except (OSError, ValueError, msgspec.MsgspecError) as exc:
            log.warning("snapshot %s is unusable (%s); ignoring it", path, exc)
    return loaded


def _snapshots(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name)), reverse=True)


def _load(path: Path) -> LoadedSnapshot:
    raw = path.read_bytes()
    trailer = _TRAILER.search(raw)
    if trailer is None:
        raise ValueError("no checksum at the end: the file was cut short or is not a snapshot")
    body = raw[: trailer.start()]
    if hashlib.blake2b(body, digest_size=16).hexdigest() != trailer.group(1).decode():
        raise ValueError("checksum does not match: the file was altered")
    snapshot = msgspec.json.decode(body, type=_Snapshot)
    if snapshot.format != _FORMAT or snapshot.schema != 1:
        raise ValueError(f"unknown format {snapshot.format!r} schema {snapshot.schema}")
    states = {c.chat: _state(c) for c in snapshot.chats}
    versions = {chat: state.version for chat, state in states.items()}
    return LoadedSnapshot(path, Position(snapshot.seq, snapshot.h, versions), states, snapshot.seen)


def _record(state: ChatState) -> _Chat:
    turn = state.turn
    return _Chat(
        chat=state.chat,
        version=state.version,
        guest_name=state.guest_name,
        pending=list(state.pending.values()),
        turn=None
        if turn is None
        else _Turn(
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
        history=[(h.role, h.text) for h in state.history],
        sent_ids=list(state.sent_ids),
        turns_completed=state.turns_completed,
        paused_until=state.paused_until,
        paused_by=state.paused_by,
        last_outcome=state.last_outcome,
        presence_subscribed=state.presence_subscribed,
        last_input_tokens=state.last_input_tokens,
        compacted=state.compacted,
        failed_work=state.failed_work,
        failed_attempts=state.failed_attempts,
    )


def _state(record: _Chat) -> ChatState:
    turn = record.turn
    return ChatState(
        chat=record.chat,
        version=record.version,
        guest_name=record.guest_name,
        pending={m.message_id: m for m in record.pending},
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
        history=BoundedList(HISTORY_LIMIT, (HistoryItem(r, t) for r, t in record.history)),
        sent_ids=BoundedList(SENT_IDS_LIMIT, record.sent_ids),
        turns_completed=record.turns_completed,
        paused_until=record.paused_until,
        paused_by=record.paused_by,
        last_outcome=record.last_outcome,
        presence_subscribed=record.presence_subscribed,
        last_input_tokens=record.last_input_tokens,
        compacted=record.compacted,
        failed_work=record.failed_work,
        failed_attempts=record.failed_attempts,
    )
