"""Ogg/Opus containers: checking the bytes before they go out as a WhatsApp voice note.

WhatsApp plays a voice note only when it is Ogg with an Opus stream, so speech is
checked page by page (capture pattern, CRC, ``OpusHead`` then ``OpusTags``) before it
is sent; a wrong container is a speech failure and the reply goes out as text.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["OggPage", "crc32", "opus_seconds", "page", "pages"]

_CAPTURE = b"OggS"
_HEADER = struct.Struct("<4sBBqIIIB")
_OPUS_RATE = 48_000
_MAX_PAGES = 100_000
"""Pages read at most; a voice note of hours has far fewer."""


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC_TABLE = _table()


def crc32(data: bytes) -> int:
    """Return Ogg's CRC-32 of ``data`` (polynomial 0x04C11DB7, no reflection, init 0)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


@dataclass(frozen=True)
class OggPage:
    """One page of an Ogg stream, with its packets' bytes joined."""

    flags: int
    granule: int
    serial: int
    sequence: int
    body: bytes
    first_packet: bytes


def page(
    packets: list[bytes], *, flags: int = 0, granule: int = 0, serial: int = 1, sequence: int = 0
) -> bytes:
    """Build one Ogg page holding whole ``packets`` (each under 255 * 255 bytes in all).

    Args:
        packets: the packets, each ending on this page.
        flags: 0x02 first page of the stream, 0x04 last page.
        granule: the granule position at the end of the page (48 kHz samples for Opus).
        serial: the stream's serial number.
        sequence: the page's number in the stream.
    """
    lacing = bytearray()
    for packet in packets:
        lacing += bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    if len(lacing) > 255:
        raise ValueError("too many packets for one Ogg page")
    header = _HEADER.pack(_CAPTURE, 0, flags, granule, serial, sequence, 0, len(lacing))
    raw = header + bytes(lacing) + b"".join(packets)
    crc = crc32(raw)
    return raw[:22] + struct.pack("<I", crc) + raw[26:]


def pages(data: bytes) -> Iterator[OggPage]:
    """Read the pages of an Ogg stream, checking each page's CRC.

    Raises:
        ValueError: the bytes are not a well-formed Ogg stream.
    """
    offset = 0
    for _ in range(_MAX_PAGES):
        if offset == len(data):
            return
        if len(data) - offset < _HEADER.size:
            raise ValueError("truncated Ogg page header")
        capture, version, flags, granule, serial, sequence, crc, count = _HEADER.unpack_from(
            data, offset
        )
        if capture != _CAPTURE or version != 0:
            raise ValueError("not an Ogg page")
        lacing = data[offset + _HEADER.size : offset + _HEADER.size + count]
        end = offset + _HEADER.size + count + sum(lacing)
        if len(lacing) != count or end > len(data):
            raise ValueError("truncated Ogg page")
        raw = data[offset:end]
        if crc32(raw[:22] + b"\0\0\0\0" + raw[26:]) != crc:
            raise ValueError("Ogg page CRC mismatch")
        body = raw[_HEADER.size + count :]
        first = 0
        for value in lacing:
            first += value
            if value < 255:
                break
        yield OggPage(flags, granule, serial, sequence, body, body[:first])
        offset = end
    raise ValueError("too many Ogg pages")


def opus_seconds(data: bytes) -> float | None:
    """Return the length of an Ogg/Opus stream in seconds, or ``None`` if it is not one.

    The stream must start with an ``OpusHead`` page, follow with ``OpusTags``, carry
    valid CRCs throughout, and hold some audio.
    """
    try:
        read = list(pages(data))
    except ValueError:
        return None
    if len(read) < 3 or not read[0].first_packet.startswith(b"OpusHead"):
        return None
    if not read[0].flags & 0x02 or not read[1].first_packet.startswith(b"OpusTags"):
        return None
    head = read[0].first_packet
    if len(head) < 19:
        return None
    pre_skip = struct.unpack_from("<H", head, 10)[0]
    samples = read[-1].granule - pre_skip
    return samples / _OPUS_RATE if samples > 0 else None
