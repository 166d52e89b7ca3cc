"""Making a guest's media part of the message: fetch, store, transcribe or fit.

Ingesting happens in the chat's actor as the message arrives, before the message may
join a turn, and is bounded as a whole by ``MEDIA_TIMEOUT_MS``: a guest never waits on
media for longer. Whatever happens becomes one journaled event; a failure becomes a
note the model reads in the media's place, so the turn still answers the guest.
"""

from __future__ import annotations

import logging
import time

import openai

from conserje.errors import WhapiError
from conserje.eventlog.events import (
    Event,
    MediaFailed,
    MediaRef,
    MediaStored,
    MediaTranscribed,
    MessageReceived,
)
from conserje.logs import mask
from conserje.media.images import ImageRefused, fit_image
from conserje.media.store import MediaStore
from conserje.whapi.client import WhapiClient

__all__ = ["TRANSCRIPT_LIMIT", "MediaIngest", "failure_note"]

log = logging.getLogger(__name__)

TRANSCRIPT_LIMIT = 10_000
"""Characters of a transcript kept; a voice note of minutes says far fewer."""

_AUDIO_EXTENSIONS = {"audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a"}
_NOTES = {
    ("voice", "any"): "the guest sent a voice note that could not be transcribed",
    ("audio", "any"): "the guest sent an audio file that could not be transcribed",
    ("image", "download"): "the guest sent a photo that could not be downloaded",
    ("image", "timeout"): "the guest sent a photo that could not be downloaded in time",
    ("image", "unreadable"): "the guest sent a photo that could not be opened",
    ("image", "too_large"): "the guest sent a photo too large to look at",
    ("document", "download"): "the guest sent a document that could not be downloaded",
    ("document", "timeout"): "the guest sent a document that could not be downloaded in time",
    ("document", "unsupported"): "the guest sent a document that cannot be read here",
}


def failure_note(media: MediaRef, reason: str) -> str:
    """Return what the model is told in place of media that could not be used."""
    note = _NOTES.get((media.kind, "any")) or _NOTES.get((media.kind, reason))
    if note is None:
        note = f"the guest sent a {media.kind} that could not be used"
    if media.kind == "document" and media.name:
        note += f" ({media.name})"
    return note


class MediaIngest:
    """Turns a guest's media into ``media_transcribed``, ``media_stored`` or ``media_failed``.

    Args:
        whapi: where media is downloaded from.
        client: the ``openai`` client that transcribes.
        store: where the bytes are kept.
        transcribe_model: ``OPENAI_TRANSCRIBE_MODEL``.
        timeout: seconds one message's media may take in all (``MEDIA_TIMEOUT_MS``).
        max_bytes: largest download accepted (``MEDIA_MAX_BYTES``).
        image_max_bytes: largest image given to the model (``MEDIA_IMAGE_MAX_BYTES``).
        file_input: PDFs go to the model as input files (``OPENAI_FILE_INPUT``).
    """

    def __init__(
        self,
        whapi: WhapiClient,
        client: openai.OpenAI,
        store: MediaStore,
        *,
        transcribe_model: str,
        timeout: float,
        max_bytes: int,
        image_max_bytes: int,
        file_input: bool,
    ) -> None:
        self._whapi = whapi
        self._client = client
        self.store = store
        self.transcribe_model = transcribe_model
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._image_max_bytes = image_max_bytes
        self._file_input = file_input

    def ingest(self, message: MessageReceived) -> Event:
        """Fetch and prepare the media of ``message``; never raises, always within the timeout."""
        media = message.media
        if media is None:
            raise ValueError("the message carries no media")
        deadline = time.monotonic() + self._timeout
        if media.kind == "document" and not self._readable_document(media):
            return self._failed(message, "document", "unsupported", media.mime or "unknown type")
        try:
            data = self._download(media, deadline)
        except WhapiError as exc:
            late = time.monotonic() >= deadline
            return self._failed(
                message, "download", "timeout" if late else "download", str(exc), timed_out=late
            )
        if media.kind in ("voice", "audio"):
            return self._transcribe(message, media, data, deadline)
        if media.kind == "image":
            return self._image(message, data)
        stored = self.store.save_media(data, "application/pdf")
        return MediaStored(
            chat=message.chat,
            message_id=message.message_id,
            file=stored.name,
            mime="application/pdf",
            size=stored.size,
            sha256=stored.sha256,
        )

    def _readable_document(self, media: MediaRef) -> bool:
        return self._file_input and media.mime.partition(";")[0].strip() == "application/pdf"

    def _download(self, media: MediaRef, deadline: float) -> bytes:
        """Fetch by MediaID with the token; fall back to the auto-download link."""
        try:
            return self._whapi.get_media(
                media.id, max_bytes=self._max_bytes, timeout=_left(deadline)
            )
        except WhapiError as exc:
            if not media.link or exc.status == 413 or _left(deadline) <= 0.1:
                raise
            log.info("media %s not served by Whapi (%s); trying its link", media.id, exc)
        return self._whapi.get_link(media.link, max_bytes=self._max_bytes, timeout=_left(deadline))

    def _transcribe(
        self, message: MessageReceived, media: MediaRef, data: bytes, deadline: float
    ) -> Event:
        mime = media.mime.partition(";")[0].strip().lower() or "audio/ogg"
        stored = self.store.save_media(data, mime)
        extension = _AUDIO_EXTENSIONS.get(mime, "ogg")
        client = self._client.with_options(timeout=_left(deadline), max_retries=0)
        try:
            result = client.audio.transcriptions.create(
                model=self.transcribe_model, file=(f"voice.{extension}", data, mime)
            )
        except openai.APITimeoutError as exc:
            return self._failed(
                message, "transcription", "any", f"transcription: {exc}", timed_out=True
            )
        except openai.OpenAIError as exc:
            return self._failed(message, "transcription", "any", _describe(exc))
        text = (result.text or "").strip()
        if not text:
            return self._failed(message, "transcription", "any", "the transcript is empty")
        return MediaTranscribed(
            chat=message.chat,
            message_id=message.message_id,
            transcript=text[:TRANSCRIPT_LIMIT],
            file=stored.name,
            size=stored.size,
            sha256=stored.sha256,
            model=self.transcribe_model,
        )

    def _image(self, message: MessageReceived, data: bytes) -> Event:
        try:
            fitted = fit_image(data, self._image_max_bytes)
        except ImageRefused as exc:
            return self._failed(message, "image", exc.reason, f"{len(data)} bytes: {exc}")
        stored = self.store.save_media(fitted.data, fitted.mime)
        return MediaStored(
            chat=message.chat,
            message_id=message.message_id,
            file=stored.name,
            mime=fitted.mime,
            size=stored.size,
            sha256=stored.sha256,
            downscaled=fitted.downscaled,
        )

    def _failed(
        self,
        message: MessageReceived,
        stage: str,
        reason: str,
        error: str,
        *,
        timed_out: bool = False,
    ) -> Event:
        media = message.media or MediaRef(kind="media", id="")
        log.warning(
            "chat %s: %s %s not usable (%s): %s",
            mask(message.chat),
            media.kind,
            media.id,
            stage,
            error,
        )
        return MediaFailed(
            chat=message.chat,
            message_id=message.message_id,
            stage=stage,
            error=error[:500],
            note=failure_note(media, reason),
            timed_out=timed_out,
        )


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _describe(exc: openai.OpenAIError) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"transcription: HTTP {exc.status_code} {exc.code or ''}".strip()
    return f"transcription: {type(exc).__name__}"
