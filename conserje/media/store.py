"""Media bytes on disk: guests' files and spoken replies, kept for a bounded time.

The journal never holds media bytes, only the names this store gives them. Guests'
files are named by their SHA-256 (so the name says what the bytes are and a file sent
twice is stored once); spoken replies by time and a counter. Files older than the
retention are deleted by :meth:`MediaStore.sweep`, which the periodic sweep calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AUDIO_NAME", "MediaStore", "StoredFile"]

log = logging.getLogger(__name__)

AUDIO_NAME = re.compile(r"voice_(\d{1,20})_(\d{1,20})\.(mp3|ogg)")
"""The names of spoken replies, and the only names ``GET /audio/{filename}`` serves."""

_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


@dataclass(frozen=True)
class StoredFile:
    """A file the store wrote: its name, size and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str


class MediaStore:
    """The ``media`` and ``audio`` folders of the data dir.

    Args:
        media_dir: where guests' files go.
        audio_dir: where spoken replies go.
        retention_days: files older than this are deleted by :meth:`sweep`.
    """

    def __init__(self, media_dir: Path, audio_dir: Path, retention_days: int) -> None:
        self.media_dir = media_dir
        self.audio_dir = audio_dir
        self._retention = retention_days * 86_400.0
        self._counter = 0

    def save_media(self, data: bytes, mime: str) -> StoredFile:
        """Store a guest's file under its SHA-256 and return what was stored."""
        digest = hashlib.sha256(data).hexdigest()
        extension = _EXTENSIONS.get(mime.partition(";")[0].strip().lower(), "bin")
        name = f"{digest}.{extension}"
        _write(self.media_dir / name, data)
        return StoredFile(name, len(data), digest)

    def read_media(self, name: str) -> bytes | None:
        """Return a guest's stored file, or ``None`` when it is gone (say, past retention)."""
        if not name or "/" in name or name.startswith("."):
            return None
        try:
            return (self.media_dir / name).read_bytes()
        except OSError:
            return None

    def save_audio(self, data: bytes, extension: str = "ogg") -> str:
        """Store a spoken reply and return its name (``voice_<ms>_<n>.ogg``)."""
        self._counter += 1
        name = f"voice_{int(time.time() * 1000)}_{self._counter}.{extension}"
        _write(self.audio_dir / name, data)
        return name

    def audio_path(self, name: str) -> Path | None:
        """Return the path of a spoken reply, or ``None`` for a name that is not one."""
        if not AUDIO_NAME.fullmatch(name):
            return None
        path = self.audio_dir / name
        # The pattern admits no separators; this guards the rule against future edits.
        if path.parent != self.audio_dir:
            return None
        return path

    def read_audio(self, name: str) -> bytes | None:
        """Return a spoken reply's bytes, or ``None`` when the name is bad or the file gone."""
        path = self.audio_path(name)
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None

    def sweep(self, now: float | None = None) -> int:
        """Delete stored files older than the retention; return how many were deleted."""
        cutoff = (time.time() if now is None else now) - self._retention
        deleted = 0
        for folder in (self.media_dir, self.audio_dir):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                try:
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        deleted += 1
                except OSError as exc:
                    log.warning("media file %s not deleted: %s", entry.name, exc)
        if deleted:
            log.info("media retention: %d files older than the retention deleted", deleted)
        return deleted


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
