"""Snapshots: every chat's projected state at one journal position, so boot can skip history.

A snapshot is a cache, never the truth: it is written atomically (temporary file,
``fsync``, rename, ``fsync`` of the directory), sealed with a checksum, and a damaged
or unusable one is ignored with a warning and boot replays from an older one or from
the beginning. The journal it was taken from is what makes it checkable: replay after
it must chain from the hash it recorded.

Schema 2 stores each chat as a :class:`~conserje.eventlog.states.StoredChat`: what boot
reads at once (version, whether it has work, its token count) beside its encoded
state, which loading keeps as it is (:class:`~conserje.eventlog.states.ChatStates`
decodes it when the chat is needed), so loading costs about the same whatever each
chat's history holds. Schema 1 (each chat's state alone) still loads, decoded at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from conserje.eventlog.jsonl import Position
from conserje.eventlog.projection import ChatState
from conserje.eventlog.records import decode_state
from conserje.eventlog.segments import fsync_dir
from conserje.eventlog.states import ChatStates, StoredChat

__all__ = ["KEEP", "LoadedSnapshot", "load_snapshots", "write_snapshot"]

log = logging.getLogger(__name__)

KEEP = 2
"""Snapshots kept; the older one is the fallback if the newer one proves unusable."""

_FORMAT = "conserje-snapshot"
_SCHEMA = 2
_NAME = re.compile(r"^(\d{20})\.snapshot$")
_TRAILER = re.compile(rb"\n#blake2b:([0-9a-f]{32})\n\Z")
_TRAILER_BYTES = 64
"""The checksum line is searched for in this many bytes at the end, not the whole file."""


class _Snapshot(msgspec.Struct, kw_only=True):
    format: str
    schema: int
    seq: int
    h: str
    chats: list[msgspec.Raw] = msgspec.field(default_factory=list)
    """Schema 1: each chat's :class:`~conserje.eventlog.records.ChatRecord`."""
    states: list[StoredChat] = msgspec.field(default_factory=list)
    """Schema 2."""
    seen: list[str]


@dataclass(frozen=True)
class LoadedSnapshot:
    """A snapshot read back: where it stands in the journal, and the state there."""

    path: Path
    position: Position
    states: ChatStates
    seen: list[str]


def write_snapshot(
    directory: Path, position: Position, states: Mapping[str, ChatState], seen: Iterable[str]
) -> Path:
    """Write a snapshot of ``states`` at ``position`` atomically; keep the newest :data:`KEEP`.

    Chats of a :class:`ChatStates` never decoded since it was loaded are written as
    they were read, without decoding them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not isinstance(states, ChatStates):
        states = ChatStates(states)
    body = msgspec.json.encode(
        _Snapshot(
            format=_FORMAT,
            schema=_SCHEMA,
            seq=position.seq,
            h=position.h,
            states=list(states.stored()),
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


def load_snapshots(directory: Path) -> Iterator[LoadedSnapshot]:
    """Yield the usable snapshots, newest first, each loaded only when asked for.

    Damaged ones are reported and skipped.
    """
    for path in _snapshots(directory):
        try:
            loaded = _load(path)
        except (OSError, ValueError, msgspec.MsgspecError) as exc:
            log.warning("snapshot %s is unusable (%s); ignoring it", path, exc)
            continue
        yield loaded


def _snapshots(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name)), reverse=True)


def _load(path: Path) -> LoadedSnapshot:
    raw = path.read_bytes()
    trailer = _TRAILER.search(raw, max(0, len(raw) - _TRAILER_BYTES))
    if trailer is None:
        raise ValueError("no checksum at the end: the file was cut short or is not a snapshot")
    # A view, not a slice: the body is most of the file. The encoded states point into
    # it, so the file's bytes stay in memory while any chat restored from it is still
    # encoded: about a third of what the same states take decoded.
    body = memoryview(raw)[: trailer.start()]
    if hashlib.blake2b(body, digest_size=16).hexdigest() != trailer.group(1).decode():
        raise ValueError("checksum does not match: the file was altered")
    snapshot = msgspec.json.decode(body, type=_Snapshot)
    if snapshot.format != _FORMAT or snapshot.schema not in (1, _SCHEMA):
        raise ValueError(f"unknown format {snapshot.format!r} schema {snapshot.schema}")
    if snapshot.schema == 1:
        states = ChatStates({s.chat: s for s in map(decode_state, snapshot.chats)})
    else:
        states = ChatStates(stored=snapshot.states)
    position = Position(snapshot.seq, snapshot.h, states.versions())
    return LoadedSnapshot(path, position, states, snapshot.seen)
