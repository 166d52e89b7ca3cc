"""The calls Conserje makes to Whapi's REST API."""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx2

from conserje.errors import WhapiError
from conserje.whapi.links import Resolver, pin_link, resolve_host

__all__ = ["MEDIA_DOWNLOAD", "SentRecord", "WhapiClient", "error_kind"]

MEDIA_DOWNLOAD = "media_download"
"""How a failed download of a guest's media is counted, whatever made it fail.

The journal's ``media_failed`` says why; the count says that it is Whapi's media
(``GET /media/{id}``, or its auto-download link) that did not come.
"""

SentRecord = dict[str, Any]


def _segment(value: str) -> str:
    """Return ``value`` (a chat, contact or media id from a webhook) as one URL path segment.

    Ids come from webhooks, which anyone may post when ``WEBHOOK_TOKEN`` is unset: an
    id like ``../../settings?x=`` must not turn a presence call into another endpoint.

    Raises:
        WhapiError: the id is empty or a dot segment, never a chat.
    """
    if value in ("", ".", ".."):
        raise WhapiError(f"{value!r} is not an id")
    return urllib.parse.quote(value, safe="@")


class WhapiClient:
    """A small, bounded client for one Whapi channel.

    Args:
        base_url: Whapi's base URL (``https://gate.whapi.cloud`` in production).
        token: the channel token, sent as ``Authorization: Bearer``.
        timeout: seconds allowed for each call, connection included.
        on_error: told the :func:`error_kind` of every failed call, or
            :data:`MEDIA_DOWNLOAD` for a failed media download (the server counts them).
        resolve: resolves media links' host names (the system's resolver by default).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        on_error: Callable[[str], None] | None = None,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._on_error = on_error
        self._resolve = resolve
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
        return self._download(self._http, f"/media/{_segment(media_id)}", max_bytes, timeout)

    def get_link(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        """Download media from its auto-download ``link``, without the channel token.

        The link points at Whapi's file storage, another host, which must never see
        the token; a link to a private or local address is refused, and the file is
        fetched from the address that was checked (:func:`conserje.whapi.links.pin_link`).

        Raises:
            WhapiError: the link was refused, the download failed, took longer than
                ``timeout`` seconds, or the file is larger than ``max_bytes``.
        """
        api = self._http.base_url
        origin = (api.scheme, api.host, api.port or (443 if api.scheme == "https" else 80))
        try:
            link = pin_link(url, origin, self._resolve)
        except WhapiError:
            # The media did not come, as surely as from a failed fetch.
            self._report(MEDIA_DOWNLOAD)
            raise
        with httpx2.Client(timeout=timeout, headers=link.headers) as plain:
            return self._download(plain, link.url, max_bytes, timeout, link.extensions)

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
        self._call(
            "PUT", f"/presences/{_segment(chat_id)}", json={"presence": presence, "delay": 0}
        )

    def subscribe_presence(self, contact: str) -> None:
        """Ask Whapi to report the contact's typing; "already subscribed" counts as done."""
        try:
            self._call("POST", f"/presences/{_segment(contact)}")
        except WhapiError as exc:
            if exc.status != 409:
                raise

    def list_sent(self, chat_id: str, *, since: int, count: int = 100) -> list[SentRecord]:
        """Return the messages we sent to ``chat_id`` since ``since`` (Unix seconds)."""
        answer = self._call(
            "GET",
            f"/messages/list/{_segment(chat_id)}",
            params={"count": count, "time_from": since, "from_me": "true"},
        )
        messages = answer.get("messages") if isinstance(answer, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]

    def _download(
        self,
        http: httpx2.Client,
        url: str,
        max_bytes: int,
        timeout: float,
        extensions: dict[str, Any] | None = None,
    ) -> bytes:
        try:
            return self._fetch(http, url, max_bytes, timeout, extensions)
        except WhapiError:
            self._report(MEDIA_DOWNLOAD)
            raise

    @staticmethod
    def _fetch(
        http: httpx2.Client,
        url: str,
        max_bytes: int,
        timeout: float,
        extensions: dict[str, Any] | None,
    ) -> bytes:
        deadline = time.monotonic() + timeout
        try:
            with http.stream("GET", url, timeout=timeout, extensions=extensions) as response:
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
            return self._call_once(method, path, **kwargs)
        except WhapiError as exc:
            self._report(error_kind(exc))
            raise

    def _report(self, kind: str) -> None:
        if self._on_error is not None:
            self._on_error(kind)

    def _call_once(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            # Only a connection never made proves the request did not reach Whapi.
            never_sent = isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout)
            raise WhapiError(
                f"{method} {path}: {type(exc).__name__}", ambiguous=not never_sent
            ) from exc
        if not response.is_success:
            status = response.status_code
            hint = _HINTS.get(status, "")
            raise WhapiError(
                f"{method} {path}: HTTP {status} {_error_text(response)}{hint}",
                status=status,
                ambiguous=status >= 500,
                retry_after=_retry_after(response),
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            # A 2xx: the call took effect, whatever its answer says.
            raise WhapiError(f"{method} {path}: answer is not JSON", ambiguous=True) from exc


def _message_id(answer: Any) -> str:
    message = answer.get("message") if isinstance(answer, dict) else None
    message_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(message_id, str) or not message_id:
        # Sent, but unnamed: it is looked for in Whapi's list, never sent again blindly.
        raise WhapiError("Whapi accepted the message but returned no message id", ambiguous=True)
    return message_id


def error_kind(error: WhapiError) -> str:
    """Name why a call failed, as ``conserje_whapi_errors_total`` labels it."""
    status = error.status
    if status is None:
        return "timeout" if "Timeout" in str(error) else "connection"
    if status >= 500:
        return "server"
    return {401: "unauthorized", 429: "rate_limited"}.get(status, "refused")


_HINTS = {
    401: " (the channel is not authorised: reconnect it in Whapi's panel)",
    404: " (no such channel: check WHAPI_TOKEN)",
}

_MAX_RETRY_AFTER = 60.0


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds the ``Retry-After`` header asks for (up to a minute); ``None`` without one."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _error_text(response: httpx2.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""
