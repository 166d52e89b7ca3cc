"""Small real media files for tests and the demo, and a way to make more.

``voice.ogg`` is one second of Opus silence in a proper Ogg container (``OpusHead`` and
``OpusTags`` pages, valid CRCs), as a WhatsApp voice note is; ``photo.jpg`` is a 64x48
JPEG. Serve them from :class:`~conserje.testing.fake_whapi.FakeWhapi` with
``media_id = fake.host_media(voice_ogg(), VOICE_MIME)`` and post
``payloads.voice_message(chat, media_id)``.
"""

from __future__ import annotations

import struct
from pathlib import Path

from conserje.media.ogg import page

__all__ = ["PHOTO_MIME", "VOICE_MIME", "opus_silence", "photo_jpg", "voice_ogg"]

HERE = Path(__file__).parent

VOICE_MIME = "audio/ogg; codecs=opus"
"""The content type Whapi gives voice notes."""

PHOTO_MIME = "image/jpeg"

_SILENCE = b"\xf8\xff\xfe"
"""One 20 ms Opus packet of silence (CELT, fullband, mono)."""

_PRE_SKIP = 312


def voice_ogg() -> bytes:
    """Return the bytes of ``voice.ogg``: one second of Ogg/Opus silence."""
    return (HERE / "voice.ogg").read_bytes()


def photo_jpg() -> bytes:
    """Return the bytes of ``photo.jpg``: a 64x48 JPEG."""
    return (HERE / "photo.jpg").read_bytes()


def opus_silence(seconds: float = 1.0, *, serial: int = 0x434F4E53) -> bytes:
    """Build a real Ogg/Opus stream of ``seconds`` of silence (how ``voice.ogg`` was made).

    Args:
        seconds: the length, rounded to 20 ms packets (at least one).
        serial: the Ogg stream serial number.
    """
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _PRE_SKIP, 48_000, 0, 0)
    vendor = b"conserje"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    out = [page([head], flags=0x02, serial=serial, sequence=0)]
    out.append(page([tags], serial=serial, sequence=1))
    packets = max(1, round(seconds * 50))
    sequence, granule = 2, _PRE_SKIP
    while packets:
        batch = min(packets, 200)
        packets -= batch
        granule += batch * 960
        flags = 0x04 if not packets else 0
        out.append(
            page([_SILENCE] * batch, flags=flags, granule=granule, serial=serial, sequence=sequence)
        )
        sequence += 1
    return b"".join(out)
