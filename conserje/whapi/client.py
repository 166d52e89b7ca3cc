"""The calls Conserje makes to Whapi's REST API."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx2

from conserje.errors import WhapiError

__all__ = ["SentRecord", "WhapiClient"]

SentRecord = dict[str, Any]


class WhapiClient:
    """A small, bounded client for one Whapi channel.

    Args:
        base_url: Whapi's base URL (``https://gate.whapi.cloud`` in production).
        token: the channel token, sent as ``Authorization: Bearer``.
        timeout: seconds allowed for each call, connection included.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    def send_text(self, to: str, body: str, *, typing_time: int = 0) -> str:
        """Send a text message and return the id Whapi gave it.

        Raises:
            WhapiError: Whapi refused the message, or could not be reached.
        """
        payload: dict[str, Any] = {"to": to, "body": body}
        if typing_time:
            payload["typing_time"] = typing_time
        return _message_id(self._call("POST", "/messages/text", json=payload))

    def get_media(self, media_id: str, *, max_bytes: int, timeout: float) -> bytes:
        """Download media a guest sent, by its MediaID (``GET /media/{id}``).

        Raises:
            WhapiError: Whapi refused, could not be reached in ``timeout`` seconds, or the
                file is larger than ``max_bytes``.
        """
        return self._download(self._http, f"/media/{media_id}", max_bytes, timeout)

    def get_link(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        """Download media from its auto-download ``link``, without the channel token.

        The link points at Whapi's file storage, another host, which must never see
        the token.

        Raises:
            WhapiError: the download failed, took longer than ``timeout`` seconds, or
                the file is larger than ``max_bytes``.
        """
        with httpx2.Client(timeout=timeout) as plain:
            return self._download(plain, url, max_bytes, timeout)

    def send_voice(self, to: str, audio: bytes, *, seconds: int) -> str:
        """Send an Ogg/Opus voice note and return the id Whapi gave it.

        Raises:
            WhapiError: Whapi refused the note, or could not be reached.
        """
        payload = {
            "to": to,
            "media": "data:audio/ogg;base64," + base64.b64encode(audio).decode(),
            "mime_type": "audio/ogg; codecs=opus",
            "seconds": max(1, seconds),
        }
        return _message_id(self._call("POST", "/messages/voice", json=payload))

    def set_presence(self, chat_id: str, presence: str) -> None:
        """Show ``typing``, ``recording`` or ``pause`` in a chat."""
        self._call("PUT", f"/presences/{chat_id}", json={"presence": presence, "delay": 0})

    def subscribe_presence(self, contact: str) -> None:
        """Ask Whapi to report the contact's typing; "already subscribed" counts as done."""
        try:
            self._call("POST", f"/presences/{contact}")
        except WhapiError as exc:
            if exc.status != 409:
                raise

    def list_sent(self, chat_id: str, *, since: int, count: int = 100) -> list[SentRecord]:
        """Return the messages we sent to ``chat_id`` since ``since`` (Unix seconds)."""
        answer = self._call(
            "GET",
            f"/messages/list/{chat_id}",
            params={"count": count, "time_from": since, "from_me": "true"},
        )
        messages = answer.get("messages") if isinstance(answer, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]

    def _download(self, http: httpx2.Client, url: str, max_bytes: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        try:
            with http.stream("GET", url, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise WhapiError(
                        f"GET media: HTTP {response.status_code} {_error_text(response)}",
                        status=response.status_code,
                    )
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise WhapiError(f"GET media: larger than {max_bytes} bytes", status=413)
                    if time.monotonic() > deadline:
                        raise WhapiError(f"GET media: took longer than {timeout:.0f} s")
                return bytes(data)
        except httpx2.HTTPError as exc:
            raise WhapiError(f"GET media: {type(exc).__name__}") from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            raise WhapiError(f"{method} {path}: {type(exc).__name__}") from exc
        if not response.is_success:
            raise WhapiError(
                f"{method} {path}: HTTP {response.status_code} {_error_text(response)}",
                status=response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise WhapiError(f"{method} {path}: answer is not JSON") from exc


def _message_id(answer: Any) -> str:
    message = answer.get("message") if isinstance(answer, dict) else None
    message_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(message_id, str) or not message_id:
        raise WhapiError("Whapi accepted the message but returned no message id")
    return message_id


def _error_text(response: httpx2.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""
