"""The simulator's sample voice note and photo, posted as Whapi would post them.

The bytes are the samples shipped in :mod:`conserje.testing.samples`; the fake Whapi
hosts them, so the server downloads, transcribes or looks at them exactly as it would a
real guest's.
"""

from __future__ import annotations

from typing import Any

from conserje.testing import payloads, samples
from conserje.testing.fake_whapi import FakeWhapi

__all__ = ["MEDIA_KINDS", "VOICE_TRANSCRIPT", "media_webhook"]

MEDIA_KINDS = frozenset({"voice", "image"})
"""The kinds of sample the simulator can send."""

VOICE_TRANSCRIPT = "Hello! Is anything free from 2027-03-10 to 2027-03-12?"
"""What the fake transcriber hears in the (silent) sample voice note."""

_PHOTO_CAPTION = "Our view this morning"


def media_webhook(whapi: FakeWhapi, kind: str, chat: str, name: str) -> dict[str, Any]:
    """Host the sample of ``kind`` on the fake Whapi and build its webhook.

    Args:
        whapi: the fake channel that serves the media.
        kind: ``voice`` or ``image``.
        chat: the guest's chat id.
        name: the guest's push name.

    Returns:
        The ``messages.post`` webhook envelope Whapi would deliver.
    """
    if kind == "voice":
        data = samples.voice_ogg()
        media_id = whapi.host_media(data, samples.VOICE_MIME)
        return payloads.voice_message(
            chat, media_id, seconds=1, mime_type=samples.VOICE_MIME, file_size=len(data), name=name
        )
    media_id = whapi.host_media(samples.photo_jpg(), samples.PHOTO_MIME)
    return payloads.image_message(
        chat,
        media_id,
        caption=_PHOTO_CAPTION,
        mime_type=samples.PHOTO_MIME,
        width=64,
        height=48,
        name=name,
    )
