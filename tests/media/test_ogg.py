"""The Ogg/Opus check that stands between speech and a WhatsApp voice note."""

from __future__ import annotations

from conserje.media.ogg import opus_seconds, pages
from conserje.testing.samples import opus_silence, voice_ogg


def test_the_shipped_voice_note_is_one_second_of_ogg_opus():
    data = voice_ogg()

    assert opus_seconds(data) == 1.0
    read = list(pages(data))
    assert read[0].first_packet.startswith(b"OpusHead")
    assert read[1].first_packet.startswith(b"OpusTags")
    assert read[-1].flags & 0x04


def test_longer_silence_spans_pages_and_keeps_its_length():
    assert opus_seconds(opus_silence(7.5)) == 7.5


def test_anything_else_is_not_a_voice_note():
    good = voice_ogg()
    flipped = bytearray(good)
    flipped[-1] ^= 0xFF

    assert opus_seconds(b"") is None
    assert opus_seconds(b"ID3\x04" + b"\xff\xfb" * 100) is None
    assert opus_seconds(good[:-5]) is None
    assert opus_seconds(bytes(flipped)) is None
    # Ogg, but Vorbis rather than Opus.
    assert opus_seconds(good.replace(b"OpusHead", b"\x01vorbis\x00", 1)) is None
