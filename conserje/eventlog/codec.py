"""Journal lines: an event as JSON, sealed with a hash that chains it to the line before.

A line is the event's JSON object with two fields added at its end::

    {"type":"message_received","seq":7,...,"more":1,"h":"9f0c...e1"}

* ``h`` is a 128-bit BLAKE2b of the previous line's ``h`` and this line's body (the line
  without ``"h"``). It is at once a checksum (a flipped byte breaks it) and a chain (a
  deleted, reordered or edited line breaks every ``h`` after it).
* ``more`` is present only inside a multi-event append: how many lines of the same
  append follow. A crash mid-append leaves a last line with ``more`` > 0, and the whole
  unfinished append is cut off at open: an append is written all or nothing.

The chain starts from :data:`GENESIS` in a new journal.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

import msgspec

from conserje.eventlog.events import EVENT_TYPES, AnyEvent, Event
from conserje.eventlog.upcast import CURRENT, upcast

__all__ = ["GENESIS", "BadLine", "SealedLine", "decode_line", "encode_line", "open_line", "seal"]

GENESIS = "0" * 32
"""The ``h`` a journal's first line chains from."""

_MORE = re.compile(rb',"more":(\d+)\}\Z')
_SUFFIX_LEN = len(b',"h":"') + 32 + len(b'"}\n')

_CURRENT_BY_CLASS = {cls: CURRENT[str(cls.__struct_config__.tag)] for cls in EVENT_TYPES}

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


class BadLine(ValueError):
    """A journal line that cannot be trusted; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SealedLine(NamedTuple):
    """A checked line: its event, its hash, and how many lines of its append follow."""

    event: Event
    h: str
    more: int


def _digest(prev: str, body: bytes) -> str:
    return hashlib.blake2b(prev.encode() + body, digest_size=16).hexdigest()


def seal(event: Event, prev: str, more: int = 0) -> tuple[bytes, str]:
    """Encode ``event`` as a sealed line chained to ``prev``; return the line and its hash."""
    body = _encoder.encode(event)
    if more:
        body = body[:-1] + b',"more":%d}' % more
    h = _digest(prev, body)
    return body[:-1] + b',"h":"' + h.encode() + b'"}\n', h


def open_line(raw: bytes, prev: str) -> SealedLine:
    """Check and decode one sealed line.

    Args:
        raw: the line, with its newline.
        prev: the previous line's hash (:data:`GENESIS` for a journal's first line).

    Raises:
        BadLine: the line is cut short, has Windows line endings, fails its hash or
            chain, or is not an event.
    """
    # Fixed offsets, not a regex: this runs once per line at every boot.
    if raw[-_SUFFIX_LEN : -_SUFFIX_LEN + 6] != b',"h":"' or raw[-3:] != b'"}\n':
        if raw.endswith(b"\r\n"):
            raise BadLine("Windows line ending (CRLF): the file was converted or edited")
        if not raw.endswith(b"\n"):
            raise BadLine("no newline at the end: the line was cut short")
        raise BadLine("no hash at the end of the line: not a Conserje journal line")
    h = raw[-35:-3].decode("ascii", "replace")
    body = raw[:-_SUFFIX_LEN] + b"}"
    if _digest(prev, body) != h:
        raise BadLine("hash does not match: the line was altered, or a line before it")
    try:
        event = _decoder.decode(body)
    except msgspec.DecodeError:
        event = None
    if event is None or event.v != _CURRENT_BY_CLASS[type(event)]:
        event = _upcast(body)
    more = _MORE.search(body) if b',"more":' in body[-32:] else None
    return SealedLine(event, h, int(more.group(1)) if more else 0)


def _upcast(body: bytes) -> Event:
    """Decode a line written with an older schema (or fail with the reason)."""
    try:
        raw = msgspec.json.decode(body)
        if not isinstance(raw, dict):
            raise BadLine("not an event: not a JSON object")
        return msgspec.convert(upcast(raw), AnyEvent)
    except (msgspec.MsgspecError, ValueError) as exc:
        if isinstance(exc, BadLine):
            raise
        raise BadLine(f"not an event: {exc}") from exc


def encode_line(event: Event) -> bytes:
    """Encode ``event`` as plain JSON with a newline, unsealed (for exports)."""
    return _encoder.encode(event) + b"\n"


def decode_line(line: bytes) -> Event:
    """Decode an event from JSON, ignoring any seal.

    Raises:
        msgspec.DecodeError: the line is not a valid event.
    """
    return _decoder.decode(line)
