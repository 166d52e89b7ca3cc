"""Encoding events to journal lines and back, with msgspec."""

from __future__ import annotations

import msgspec

from conserje.eventlog.events import AnyEvent, Event

__all__ = ["decode_line", "encode_line"]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode_line(event: Event) -> bytes:
    """Encode ``event`` as one journal line, newline included."""
    return _encoder.encode(event) + b"\n"


def decode_line(line: bytes) -> Event:
    """Decode one journal line (with or without its newline).

    Raises:
        msgspec.DecodeError: the line is not a valid event.
    """
    return _decoder.decode(line)
