"""The audio side of the fake OpenAI server: transcriptions and speech.

``POST /v1/audio/transcriptions`` reads the multipart upload the SDK sends, checks it
carries a model and a file with an extension-bearing name, and answers with the
transcript registered for those exact bytes (:meth:`FakeAudio.add_transcript`); bytes it
does not know get the 400 the API gives unreadable audio, so a test proves the server
uploaded what the guest sent. ``POST /v1/audio/speech`` answers with a real Ogg/Opus
stream of silence (or MP3-looking bytes for ``mp3``), about as long as the text.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from conserje.media.ogg import opus_seconds
from conserje.testing._server import REQUEST_LOG_LIMIT, FakeRequest, FakeResponse, json_response
from conserje.testing.samples import opus_silence

__all__ = ["FakeAudio", "Speech", "Transcription"]

_CHARS_PER_SECOND = 15


@dataclass(frozen=True)
class Transcription:
    """One ``POST /audio/transcriptions`` as the fake read it."""

    model: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Speech:
    """One ``POST /audio/speech`` as the fake read it: the JSON body's fields."""

    model: str
    voice: str
    input: str
    response_format: str


def _error(status: int, message: str, param: str | None = None) -> FakeResponse:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return json_response(status, {"error": error})


class FakeAudio:
    """Transcriptions and speech, kept by :class:`~conserje.testing.fake_openai.FakeOpenAI`.

    Attributes:
        speech_bytes: decides the audio returned for a speech request (default: Ogg/Opus
            silence about as long as the text); replace it to return a wrong container.
        default_transcript: when set, the transcript of any real Ogg/Opus upload with no
            transcript of its own (a demo's recordings); ``None`` (the default) makes
            unknown bytes a 400, so a test proves which bytes were uploaded.

    Args:
        log_limit: transcription and speech requests kept, each the newest.
    """

    def __init__(self, *, log_limit: int = REQUEST_LOG_LIMIT) -> None:
        self._state = threading.Lock()
        self._transcripts: dict[str, str] = {}
        self._transcriptions: deque[Transcription] = deque(maxlen=log_limit)
        self._speeches: deque[Speech] = deque(maxlen=log_limit)
        self.speech_bytes: Callable[[Speech], bytes] = _silence
        self.default_transcript: str | None = None

    def add_transcript(self, audio: bytes, text: str) -> None:
        """Make an upload of exactly ``audio`` transcribe to ``text``."""
        with self._state:
            self._transcripts[hashlib.sha256(audio).hexdigest()] = text

    def transcriptions(self) -> list[Transcription]:
        """Return the transcription requests received, oldest first."""
        with self._state:
            return list(self._transcriptions)

    def speeches(self) -> list[Speech]:
        """Return the speech requests received, oldest first."""
        with self._state:
            return list(self._speeches)

    def transcribe(self, request: FakeRequest) -> FakeResponse:
        """Answer ``POST /v1/audio/transcriptions``."""
        content_type = request.header("content-type") or ""
        if not content_type.startswith("multipart/form-data"):
            return _error(400, "Expected multipart/form-data.")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        fields: dict[str, str] = {}
        upload: Transcription | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if name == "file" and filename:
                upload = Transcription("", filename, part.get_content_type(), data)
            elif isinstance(name, str):
                fields[name] = data.decode()
        model = fields.get("model", "")
        if not model:
            return _error(400, "Missing required parameter: 'model'.", "model")
        if upload is None or "." not in upload.filename:
            return _error(400, "A file with an extension-bearing name is required.", "file")
        with self._state:
            self._transcriptions.append(
                Transcription(model, upload.filename, upload.content_type, upload.data)
            )
            text = self._transcripts.get(hashlib.sha256(upload.data).hexdigest())
        if text is None and opus_seconds(upload.data) is not None:
            text = self.default_transcript
        if text is None:
            return _error(400, "Audio file might be corrupted or unsupported", "file")
        return json_response(200, {"text": text, "usage": {"type": "duration", "seconds": 1}})

    def speak(self, request: FakeRequest) -> FakeResponse:
        """Answer ``POST /v1/audio/speech`` with audio bytes."""
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        for key in ("model", "input", "voice"):
            if not body.get(key):
                return _error(400, f"Missing required parameter: '{key}'.", key)
        if len(body["input"]) > 4096:
            return _error(400, "input is longer than 4096 characters", "input")
        speech = Speech(
            body["model"], str(body["voice"]), body["input"], body.get("response_format", "mp3")
        )
        with self._state:
            self._speeches.append(speech)
        kind = "audio/ogg" if speech.response_format == "opus" else "audio/mpeg"
        return FakeResponse(200, self.speech_bytes(speech), content_type=kind)


def _silence(speech: Speech) -> bytes:
    if speech.response_format != "opus":
        return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 64
    return opus_silence(max(1.0, len(speech.input) / _CHARS_PER_SECOND))
