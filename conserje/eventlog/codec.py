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

import gc
import hashlib
import re
from operator import attrgetter
from typing import NamedTuple

import msgspec

from conserje.eventlog.events import EVENT_TYPES, AnyEvent, Event
from conserje.eventlog.upcast import CURRENT, upcast

__all__ = [
    "GENESIS",
    "BadLine",
    "SealedLine",
    "chain_end",
    "decode_block",
    "decode_line",
    "encode_line",
    "ends_append",
    "line_hash",
    "open_line",
    "seal",
]

GENESIS = "0" * 32
"""The ``h`` a journal's first line chains from."""

_MORE = re.compile(rb',"more":(\d+)\}\Z')
_SUFFIX_LEN = len(b',"h":"') + 32 + len(b'"}\n')
_SEAL_LEN = _SUFFIX_LEN - 1
"""The seal at the end of a line, without the newline."""

_CURRENT_BY_CLASS = {cls: CURRENT[str(cls.__struct_config__.tag)] for cls in EVENT_TYPES}
_CURRENT_PAIRS = frozenset(_CURRENT_BY_CLASS.items())
_V = attrgetter("v")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


class BadLine(ValueError):
    """A journal line that cannot be trusted; ``reason`` says why in plain words."""

    def __init__(self, reason: str, index: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


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


def chain_end(block: bytes, prev: str) -> str | None:
    """Check a block of whole sealed lines chains from ``prev``; return its last hash.

    The same checks as :func:`open_line` makes of each line's seal, in one tight loop;
    ``None`` when any line fails, without saying which (:func:`open_line` says).
    """
    blake2b, h = hashlib.blake2b, prev.encode()
    for raw in block.split(b"\n")[:-1]:
        if raw[-_SEAL_LEN : 6 - _SEAL_LEN] != b',"h":"' or raw[-2:] != b'"}':
            return None
        sealed = raw[-34:-2]
        if blake2b(h + raw[:-_SEAL_LEN] + b"}", digest_size=16).hexdigest().encode() != sealed:
            return None
        h = sealed
    return h.decode("ascii")


def line_hash(raw: bytes) -> str:
    """Return the hash a sealed line (with its newline) ends with, without checking it."""
    return raw[-35:-3].decode("ascii", "replace")


def ends_append(raw: bytes) -> bool:
    """Whether the sealed line ``raw`` (with its newline) is the last line of its append."""
    return b',"more":' not in raw[-_SUFFIX_LEN - 32 : -_SUFFIX_LEN]


def decode_block(block: bytes | memoryview) -> list[Event]:
    """Decode consecutive sealed lines at once, upcasting old ones, without checking seals.

    Only for lines whose seals were checked another way (a closed segment's digest, or
    :func:`chain_end` over the same block): it costs about what msgspec's
    ``decode_lines`` costs, where :func:`open_line` costs several times that per line.

    Raises:
        BadLine: a line is not an event; ``index`` is its 0-based position in ``block``.
    """
    # Tens of thousands of new, acyclic structs per block: collecting them while they
    # are being built only re-scans them (decoding took 2-2.5x as long with it on).
    collect = gc.isenabled()
    gc.disable()
    try:
        events = _decoder.decode_lines(block)
    except msgspec.DecodeError:
        events = None
    finally:
        if collect:
            gc.enable()
    if events is None:
        return [_decode_sealed(raw, index) for index, raw in enumerate(_lines(block))]
    if not _CURRENT_PAIRS.issuperset(zip(map(type, events), map(_V, events), strict=True)):
        lines = _lines(block)
        for index, event in enumerate(events):
            if event.v != _CURRENT_BY_CLASS[type(event)]:
                events[index] = _decode_sealed(lines[index], index)
    return events


def _lines(block: bytes | memoryview) -> list[bytes]:
    return bytes(block).split(b"\n")[:-1]


def _decode_sealed(line: bytes, index: int) -> Event:
    """Decode one sealed line (without its newline) whose seal is not checked."""
    try:
        return _upcast(line[:-_SEAL_LEN] + b"}")
    except BadLine as exc:
        raise BadLine(exc.reason, index) from exc


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
