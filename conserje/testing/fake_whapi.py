"""A stateful fake of the Whapi.Cloud gateway, served on 127.0.0.1.

It answers the REST calls Conserje makes (send text/voice/image, presences, mark read,
media download, message history) with Whapi's wire shapes and error bodies, records
what was sent, and plays Whapi's webhook side: it echoes every API send back to the
configured webhook URL, retrying with linear backoff until it gets HTTP 200, so a test
can kill and restart the server under test and still see the echo arrive. Deliveries
follow the webhook's ``mode`` as Whapi's do: ``body`` posts to the URL, ``path`` appends
``/{type}/{method}``, ``method`` appends ``/{type}`` and uses the method as HTTP verb.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2

from conserje.testing import payloads
from conserje.testing._server import (
    REQUEST_LOG_LIMIT,
    FakeRequest,
    FakeResponse,
    FakeServer,
    json_response,
    keep_newest,
)

__all__ = ["FakeWhapi", "SentMessage"]

_TO_PATTERN = re.compile(r"[\d-]{9,31}(@[\w.]{1,})?")
_MEDIA_MIME = {"voice": "audio/ogg; codecs=opus", "image": "image/jpeg"}
# MediaID prefixes Whapi uses, by content type (``oga-3aa6...-807a...``).
_MEDIA_PREFIX = {
    "audio/ogg": "oga",
    "image/jpeg": "jpeg",
    "image/png": "png",
    "application/pdf": "pdf",
}
_MEDIA_FIELDS = ("caption", "seconds", "width", "height")
_PRESENCES = {"typing", "recording", "pause"}
_OWN_PRESENCES = {"online", "offline"}
_MAX_TYPING_TIME = 60
# Whapi retries failed webhooks with a linearly growing delay; these keep the same
# shape at test speed, bounded in attempts and in total time.
_ECHO_ATTEMPTS = 10
_ECHO_BACKOFF_STEP = 0.2
_ECHO_BUDGET = 15.0
_ECHO_TIMEOUT = 2.0
_WEBHOOK_TIMEOUT = 10.0
_WEBHOOK_MODES = ("body", "path", "method")


@dataclass(frozen=True)
class SentMessage:
    """One message the fake accepted through ``POST /messages/{type}``.

    Attributes:
        id: the id the fake assigned (``message.id`` in the answer).
        chat_id: the normalised chat id (a bare phone gets ``@s.whatsapp.net``).
        type: ``text``, ``voice`` or ``image``.
        body: the text, or the media caption (``""`` without one).
        typing_time: the requested ``typing_time`` in seconds.
        received_at: the fake's clock when the request arrived.
        raw: the request's JSON body as the client sent it.
        media: the media bytes, when ``media`` was a base64 ``data:`` URL (else ``b""``).
    """

    id: str
    chat_id: str
    type: str
    body: str
    typing_time: float
    received_at: float
    raw: dict[str, Any]
    media: bytes = b""


class _Rejected(Exception):
    """Ends a request early with an error answer."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


class FakeWhapi(FakeServer):
    """A fake Whapi.Cloud channel: REST API, sent-message log, webhook echoes.

    Attributes:
        token: the bearer token every call must carry.
        own_number: the channel's own number (``from`` of sent messages).
        webhook_url: where echoes and :meth:`post_webhook` go; settable at any time,
            and echo retries pick up a new value.
        webhook_headers: headers sent with every webhook delivery.
        webhook_mode: Whapi's webhook ``mode``: ``body``, ``path`` or ``method``.
        echo: whether API sends are echoed to ``webhook_url``.
        echo_delay: seconds before an echo's first attempt, so it normally lands
            after the send's answer as with the real gateway.
        authorised: when ``False``, every call gets 401 (channel logged out).
        log_limit: requests, sends, presences, read marks, echo attempts, history
            messages and hosted media kept, each the newest (``REQUEST_LOG_LIMIT``).
    """

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 - a fake channel's token, not a secret
        own_number: str = payloads.OWN_NUMBER,
        webhook_url: str | None = None,
        *,
        webhook_headers: dict[str, str] | None = None,
        webhook_mode: str = "body",
        echo: bool = True,
        clock: Callable[[], float] = time.time,
        echo_delay: float = 0.05,
        log_limit: int = REQUEST_LOG_LIMIT,
    ) -> None:
        super().__init__(log_limit=log_limit)
        self.token = token
        self.own_number = own_number
        self.webhook_url = webhook_url
        self.webhook_headers = dict(webhook_headers or {})
        self.webhook_mode = webhook_mode
        self.echo = echo
        self.echo_delay = echo_delay
        self.authorised = True
        self._clock = clock
        self._state = threading.Lock()
        self._closing = threading.Event()
        self._sent: deque[SentMessage] = deque(maxlen=log_limit)
        self._history: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._presences_set: deque[tuple[str, str]] = deque(maxlen=log_limit)
        self._subscriptions: set[str] = set()
        self._read_marks: deque[str] = deque(maxlen=log_limit)
        self._media: dict[str, tuple[bytes, str]] = {}
        self._deliveries: deque[tuple[dict[str, Any], int | None]] = deque(maxlen=log_limit)
        self._echo_threads: list[threading.Thread] = []

    @property
    def sent(self) -> list[SentMessage]:
        """Messages sent through the API so far, oldest first (a snapshot)."""
        with self._state:
            return list(self._sent)

    @property
    def presences_set(self) -> list[tuple[str, str]]:
        """``(entry, presence)`` pairs from ``PUT /presences/{entry}`` (a snapshot)."""
        with self._state:
            return list(self._presences_set)

    @property
    def subscriptions(self) -> set[str]:
        """Entries subscribed with ``POST /presences/{entry}`` (a snapshot)."""
        with self._state:
            return set(self._subscriptions)

    @property
    def read_marks(self) -> list[str]:
        """Message ids marked read with ``PUT /messages/{id}`` (a snapshot)."""
        with self._state:
            return list(self._read_marks)

    @property
    def webhook_deliveries(self) -> list[tuple[dict[str, Any], int | None]]:
        """Every echo attempt as ``(payload, status)``; ``None`` when unreachable."""
        with self._state:
            return list(self._deliveries)

    def sent_to(self, chat_id: str) -> list[SentMessage]:
        """Return the messages sent to one chat (a bare phone is accepted too)."""
        wanted = _chat_id(chat_id)
        return [m for m in self.sent if m.chat_id == wanted]

    def add_media(self, media_id: str, data: bytes, content_type: str) -> None:
        """Make ``GET /media/{media_id}`` return ``data`` as ``content_type``."""
        with self._state:
            self._media[media_id] = (data, content_type)
            keep_newest(self._media, self.log_limit)

    def host_media(self, data: bytes, content_type: str) -> str:
        """Serve ``data`` under a fresh Whapi-shaped MediaID and return the id.

        The bytes are then downloadable with ``GET /media/{id}`` (Bearer token) and, as
        with Whapi's auto-download links, without a token at :meth:`media_link`.
        """
        prefix = _MEDIA_PREFIX.get(content_type.partition(";")[0].strip(), "file")
        media_id = f"{prefix}-{secrets.token_hex(10)}-{secrets.token_hex(7)}"
        self.add_media(media_id, data, content_type)
        return media_id

    def media_link(self, media_id: str) -> str:
        """Return the token-free download URL of hosted media (Whapi's ``link`` field)."""
        return f"{self.url}/files/{media_id}"

    def add_history(self, message: dict[str, Any]) -> None:
        """Add a Message object (e.g. an inbound one) to ``GET /messages/list``."""
        with self._state:
            self._history.append(copy.deepcopy(message))

    def post_webhook(self, payload: dict[str, Any]) -> int:
        """Deliver a payload to ``webhook_url`` in ``webhook_mode``, as Whapi an event.

        Args:
            payload: the webhook body, e.g. from :mod:`conserje.testing.payloads`; in
                ``path`` and ``method`` modes its ``event`` names the URL and verb.

        Returns:
            The HTTP status the receiver answered.

        Raises:
            RuntimeError: no ``webhook_url`` is set.
            ValueError: the mode is unknown, or needs an ``event`` the payload lacks.
            httpx2.TransportError: the receiver could not be reached.
        """
        if self.webhook_url is None:
            raise RuntimeError("FakeWhapi.webhook_url is not set")
        return _deliver_json(
            self.webhook_url, self.webhook_mode, self.webhook_headers, payload, _WEBHOOK_TIMEOUT
        )

    def reset(self) -> None:
        """Forget all traffic and recorded state, as a freshly built fake would.

        Pending echo retries are abandoned, injected faults dropped, and ``authorised``
        is ``True`` again; the settings (token, webhook URL, mode and headers, echo) are
        kept.
        This lets one fake serve many tests without paying for a server restart each.
        """
        self._abandon_echoes()
        self._closing.clear()
        with self._lock:
            self._log.clear()
            self._faults.clear()
        with self._state:
            self._sent.clear()
            self._history.clear()
            self._presences_set.clear()
            self._subscriptions.clear()
            self._read_marks.clear()
            self._media.clear()
            self._deliveries.clear()
        self.authorised = True

    def stop(self) -> None:
        """Stop serving and abandon pending echo retries."""
        super().stop()
        self._abandon_echoes()

    def route(self, request: FakeRequest) -> FakeResponse:
        """Answer one Whapi API call."""
        if request.method == "GET" and request.path.startswith("/files/"):
            return self._media_file(request.path.removeprefix("/files/"))
        if request.header("authorization") != f"Bearer {self.token}":
            return _error(404, "Channel not found")
        if not self.authorised:
            return _error(401, "Need channel authorization")
        parts = tuple(request.path.strip("/").split("/"))
        try:
            return self._route(request, parts)
        except _Rejected as rejected:
            return rejected.response

    def _route(self, request: FakeRequest, parts: tuple[str, ...]) -> FakeResponse:
        match (request.method, parts):
            case ("POST", ("messages", "text" | "voice" | "image" as kind)):
                return self._send(kind, _json_object(request))
            case ("GET", ("messages", "list", chat_id)):
                return self._list(chat_id, request.query)
            case ("PUT", ("messages", message_id)):
                with self._state:
                    self._read_marks.append(message_id)
                return json_response(200, {"success": True})
            case ("PUT", ("presences", entry)):
                return self._set_presence(entry, _json_object(request))
            case ("POST", ("presences", entry)):
                return self._subscribe(entry)
            case ("GET", ("media", media_id)):
                return self._media_file(media_id)
        raise _Rejected(_error(404, "Not found", f"{request.method} {request.path}"))

    def _media_file(self, media_id: str) -> FakeResponse:
        with self._state:
            stored = self._media.get(media_id)
        if stored is None:
            return _error(404, "Media not found")
        return FakeResponse(200, stored[0], content_type=stored[1])

    def _send(self, kind: str, data: dict[str, Any]) -> FakeResponse:
        to = data.get("to")
        if not isinstance(to, str) or not _TO_PATTERN.fullmatch(to):
            raise _Rejected(_bad_request('"to" must be a phone number or chat id'))
        typing_time = data.get("typing_time", 0)
        if not _is_number(typing_time) or not 0 <= typing_time <= _MAX_TYPING_TIME:
            raise _Rejected(_bad_request('"typing_time" must be between 0 and 60'))
        if kind == "text":
            body = data.get("body")
            if not isinstance(body, str) or not body:
                raise _Rejected(_bad_request('"body" is required'))
            content: dict[str, Any] = {"body": body}
        else:
            media = data.get("media")
            if not isinstance(media, str) or not media:
                raise _Rejected(_bad_request('"media" is required'))
            content = {
                "id": f"{kind}-{secrets.token_hex(10)}",
                "mime_type": data.get("mime_type") or _MEDIA_MIME[kind],
            }
            content.update({k: data[k] for k in _MEDIA_FIELDS if k in data})
            body = data.get("caption") or ""
        now = self._clock()
        chat_id = _chat_id(to)
        message = payloads.message(
            chat_id,
            kind,
            content,
            from_me=True,
            source="api",
            timestamp=int(now),
            own_number=self.own_number,
        )
        record = SentMessage(
            message["id"], chat_id, kind, body, float(typing_time), now, data, _data_url(data)
        )
        with self._state:
            self._sent.append(record)
            self._history.append(message)
        if self.echo and self.webhook_url is not None:
            self._start_echo(payloads.envelope("messages", [message], "messages"))
        return json_response(201, {"sent": True, "message": message})

    def _list(self, chat_id: str, query: dict[str, str]) -> FakeResponse:
        if "@" not in chat_id:
            raise _Rejected(_bad_request("ChatID must be a JID, e.g. <digits>@s.whatsapp.net"))
        count = _query_int(query, "count", 100)
        offset = _query_int(query, "offset", 0)
        time_from = _query_int(query, "time_from", 0)
        time_to = _query_int(query, "time_to", sys.maxsize)
        from_me = query.get("from_me")
        if from_me not in (None, "true", "false"):
            raise _Rejected(_bad_request('"from_me" must be true or false'))
        with self._state:
            history = list(self._history)
        # Insertion order breaks timestamp ties, so of two sends in one second the later
        # one is listed first, as it would be on the real channel.
        newest_first = sorted(
            enumerate(history), key=lambda item: (int(item[1]["timestamp"]), item[0]), reverse=True
        )
        matching = [
            m
            for _, m in newest_first
            if m.get("chat_id") == chat_id
            and time_from <= int(m["timestamp"]) <= time_to
            and (from_me is None or bool(m.get("from_me")) == (from_me == "true"))
        ]
        page = matching[offset : offset + count]
        return json_response(
            200, {"messages": page, "count": len(page), "total": len(matching), "offset": offset}
        )

    def _set_presence(self, entry: str, data: dict[str, Any]) -> FakeResponse:
        presence = data.get("presence")
        allowed = _OWN_PRESENCES if entry == "me" else _PRESENCES
        if presence not in allowed:
            raise _Rejected(_bad_request(f'"presence" must be one of {sorted(allowed)}'))
        delay = data.get("delay", 0)
        if not _is_number(delay) or delay < 0:
            raise _Rejected(_bad_request('"delay" must be a number of seconds >= 0'))
        with self._state:
            self._presences_set.append((entry, presence))
        return json_response(200, {"success": True})

    def _subscribe(self, entry: str) -> FakeResponse:
        with self._state:
            repeated = entry in self._subscriptions
            self._subscriptions.add(entry)
        if repeated:
            raise _Rejected(_error(409, "already subscribed"))
        return json_response(200, {"success": True})

    def _start_echo(self, payload: dict[str, Any]) -> None:
        thread = threading.Thread(target=self._deliver, args=(payload,), daemon=True)
        with self._state:
            self._echo_threads = [t for t in self._echo_threads if t.is_alive()]
            self._echo_threads.append(thread)
        thread.start()

    def _abandon_echoes(self) -> None:
        self._closing.set()
        with self._state:
            threads, self._echo_threads = self._echo_threads, []
        for thread in threads:
            thread.join(timeout=_ECHO_TIMEOUT + 1)

    def _deliver(self, payload: dict[str, Any]) -> None:
        deadline = time.monotonic() + _ECHO_BUDGET
        if self._closing.wait(self.echo_delay):
            return
        for attempt in range(1, _ECHO_ATTEMPTS + 1):
            url, remaining = self.webhook_url, deadline - time.monotonic()
            if url is None or remaining <= 0:
                return
            try:
                status: int | None = _deliver_json(
                    url,
                    self.webhook_mode,
                    self.webhook_headers,
                    payload,
                    min(_ECHO_TIMEOUT, remaining),
                )
            except httpx2.TransportError:
                status = None
            with self._state:
                self._deliveries.append((payload, status))
            # Whapi counts only an exact 200 as delivered.
            if status == 200 or self._closing.wait(_ECHO_BACKOFF_STEP * attempt):
                return


def _deliver_json(
    url: str, mode: str, headers: dict[str, str], payload: Any, timeout: float
) -> int:
    verb, target = _addressed(url, mode, payload)
    # Webhook targets are local test servers; proxy settings from the environment
    # must not reroute them.
    response = httpx2.request(
        verb, target, json=payload, headers=headers, timeout=timeout, trust_env=False
    )
    return response.status_code


def _addressed(url: str, mode: str, payload: Any) -> tuple[str, str]:
    """Return the HTTP verb and URL Whapi delivers ``payload`` with in ``mode``."""
    if mode not in _WEBHOOK_MODES:
        raise ValueError(f"webhook mode {mode!r} is not one of {', '.join(_WEBHOOK_MODES)}")
    if mode == "body":
        return "POST", url
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or not event.get("type") or not event.get("event"):
        raise ValueError(f"{mode} mode needs the payload's event: {{type, event}}")
    base = url.rstrip("/")
    if mode == "path":
        return "POST", f"{base}/{event['type']}/{event['event']}"
    return str(event["event"]).upper(), f"{base}/{event['type']}"


def _chat_id(to: str) -> str:
    return to if "@" in to else f"{to}@s.whatsapp.net"


def _data_url(data: dict[str, Any]) -> bytes:
    """Return the bytes of a base64 ``data:`` URL in ``media``, or ``b""``."""
    media = data.get("media")
    if not isinstance(media, str) or not media.startswith("data:"):
        return b""
    _, _, encoded = media.partition(";base64,")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _Rejected(_bad_request('"media" is not valid base64')) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_object(request: FakeRequest) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        raise _Rejected(_bad_request("the body is not valid JSON")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Rejected(_bad_request("the body must be a JSON object"))
    return data


def _query_int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise _Rejected(_bad_request(f'"{name}" must be a non-negative integer'))
    return int(raw)


def _error(status: int, message: str, details: str | None = None) -> FakeResponse:
    error: dict[str, Any] = {"code": status, "message": message}
    if details is not None:
        error["details"] = details
    return json_response(status, {"error": error})


def _bad_request(details: str) -> FakeResponse:
    return _error(400, "Wrong request parameters", details)
