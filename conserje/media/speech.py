"""Replies spoken as voice notes, for guests who spoke first.

A reply is spoken only when nothing in it must be read exactly: prices, amounts, links,
phone numbers and codes always go as text, where the guest can copy them. Speech comes
from ``audio.speech.create`` as Ogg/Opus, the container WhatsApp plays as a voice note,
and the container is checked before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import openai

from conserje.media.ogg import opus_seconds
from conserje.media.store import MediaStore

__all__ = ["SPEAKABLE_CHARS", "SpeechError", "SpokenReply", "VoiceReplies", "unspeakable"]

SPEAKABLE_CHARS = 1000
"""Longest reply spoken; a longer one reads better than it listens."""

_MUST_BE_READ = (
    ("an email address", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+")),
    ("a link", re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|es|net|org|io|co|me|app|ly)\b", re.I)),
    (
        "a price",
        re.compile(
            r"[€$£¥]|\b(?:eur|euros?|usd|d[oó]lar(?:es)?|pesos?|cop|mxn|gbp|libras?)\b", re.I
        ),
    ),
    ("a phone number", re.compile(r"\+?\d[\d\s().-]{5,}\d")),
    ("an amount", re.compile(r"\d[.,]\d|\d\s*%")),
    ("a code", re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]{3,}\b")),
    ("a long number", re.compile(r"\b(?!(?:19|20)\d\d\b)\d{4,}\b")),
)


def unspeakable(text: str) -> str | None:
    """Return why ``text`` must go as text (say, "a price"), or ``None`` if it may be spoken."""
    if len(text) > SPEAKABLE_CHARS:
        return f"longer than {SPEAKABLE_CHARS} characters"
    for what, pattern in _MUST_BE_READ:
        if pattern.search(text):
            return f"it names {what}"
    return None


class SpeechError(Exception):
    """Speech could not be made, or is not an Ogg/Opus voice note."""


@dataclass(frozen=True)
class SpokenReply:
    """A reply turned into a stored voice note: its file name, bytes and length."""

    name: str
    data: bytes
    seconds: float


class VoiceReplies:
    """Speaks replies with ``audio.speech.create`` and stores them under the data dir.

    Args:
        client: the ``openai`` client.
        store: where spoken replies are kept (and served from by ``GET /audio``).
        model: ``OPENAI_TTS_MODEL``.
        voice: ``OPENAI_TTS_VOICE``.
        timeout: seconds speech may take (``MEDIA_TIMEOUT_MS``).
    """

    def __init__(
        self, client: openai.OpenAI, store: MediaStore, *, model: str, voice: str, timeout: float
    ) -> None:
        self._client = client.with_options(timeout=timeout, max_retries=0)
        self.store = store
        self.model = model
        self.voice = voice

    def speak(self, text: str) -> SpokenReply:
        """Return ``text`` spoken, checked to be Ogg/Opus and stored.

        Raises:
            SpeechError: the API failed, or answered something that is not Ogg/Opus.
        """
        try:
            response = self._client.audio.speech.create(
                model=self.model, voice=self.voice, input=text, response_format="opus"
            )
            data = response.content
        except openai.OpenAIError as exc:
            detail = (
                f"HTTP {exc.status_code}"
                if isinstance(exc, openai.APIStatusError)
                else type(exc).__name__
            )
            raise SpeechError(f"speech failed: {detail}") from exc
        seconds = opus_seconds(data)
        if seconds is None:
            raise SpeechError(f"speech is not Ogg/Opus ({len(data)} bytes, starts {data[:4]!r})")
        return SpokenReply(self.store.save_audio(data, "ogg"), data, seconds)
