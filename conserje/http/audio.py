"""``GET /audio/{filename}``: the voice notes spoken as replies, kept under the data dir.

Only names of the form ``voice_<digits>_<digits>.(mp3|ogg)`` are served, and only from
the audio folder: anything else (``..``, slashes however encoded, absolute paths, long
names) is a 400 before the disk is touched, and a good name with no file is a 404.
"""

from __future__ import annotations

import falcon

from conserje.runtime import Runtime

__all__ = ["AudioResource"]

_CONTENT_TYPES = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}


class AudioResource:
    """Serves spoken replies by name, never caching them."""

    def __init__(self, runtime: Runtime) -> None:
        self._store = runtime.media_store

    def on_get(self, req: falcon.Request, resp: falcon.Response, filename: str) -> None:
        """Answer the file, 400 for a name that is not a voice note's, 404 when missing."""
        path = self._store.audio_path(filename)
        if path is None:
            raise falcon.HTTPBadRequest(
                title="Bad audio file name",
                description="expected voice_<digits>_<digits>.mp3 or .ogg",
            )
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise falcon.HTTPNotFound(title="No such audio file") from None
        resp.content_type = _CONTENT_TYPES[path.suffix.lstrip(".")]
        resp.cache_control = ["no-cache", "no-store", "must-revalidate"]
        resp.data = data
