"""MEDIA SEAM: the simulator's sample voice note and photo.

The "media" work (issue 5) ships ``conserje/testing/samples/voice.ogg`` and
``photo.jpg`` and teaches the server to fetch, transcribe and show media. This module
is the only place the demo touches that: it hands a sample's bytes to the fake Whapi
(``GET /media/{id}`` then serves them, as Whapi does) and builds the webhook Whapi
would post for it. Until the samples exist the webhook is still posted, with a media
id the fake does not know (the server's download then gets Whapi's 404).
"""

from __future__ import annotations

import itertools
from importlib import resources
from typing import Any

from conserje.testing import payloads
from conserje.testing.fake_whapi import FakeWhapi

__all__ = ["MEDIA_KINDS", "media_webhook"]

# kind -> (sample file in conserje/testing/samples/, content type, caption)
_SAMPLES = {
    "voice": ("voice.ogg", "audio/ogg; codecs=opus", ""),
    "image": ("photo.jpg", "image/jpeg", "Our view this morning"),
}
MEDIA_KINDS = frozenset(_SAMPLES)
"""The kinds of sample the simulator can send."""

_ids = itertools.count(1)


def _sample(name: str) -> bytes | None:
    try:
        return (resources.files("conserje.testing") / "samples" / name).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):
        return None


def media_webhook(whapi: FakeWhapi, kind: str, chat: str, name: str) -> dict[str, Any]:
    """Register the sample of ``kind`` with the fake Whapi and build its webhook.

    Args:
        whapi: the fake channel that serves the media.
        kind: ``voice`` or ``image``.
        chat: the guest's chat id.
        name: the guest's push name.

    Returns:
        The ``messages.post`` webhook envelope Whapi would deliver.
    """
    file_name, content_type, caption = _SAMPLES[kind]
    media_id = f"demo-{kind}-{next(_ids)}"
    data = _sample(file_name)
    if data is not None:
        whapi.add_media(media_id, data, content_type)
    size = len(data) if data is not None else 0
    if kind == "voice":
        return payloads.voice_message(
            chat, media_id, seconds=1, mime_type=content_type, file_size=size, name=name
        )
    return payloads.image_message(
        chat, media_id, caption=caption, mime_type=content_type, name=name
    )
