"""Builders of Whapi.Cloud webhook payloads, for tests and for the fake gateway.

Each builder returns a plain dict ready to JSON-encode, shaped the way Whapi delivers
it: one payload key holding a list, plus ``event`` and ``channel_id``. Defaults give
fresh message ids and the current time, so a test only spells out what it cares about.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

__all__ = [
    "CHANNEL_ID",
    "OWN_NUMBER",
    "document_message",
    "envelope",
    "group_text_message",
    "image_message",
    "message",
    "new_message_id",
    "presence",
    "status_update",
    "text_message",
    "voice_message",
]

CHANNEL_ID = "FAKE-CHANNEL"
OWN_NUMBER = "15550001111"

_ID_ALPHABET = string.ascii_letters + string.digits
# Whapi's status enum order gives the numeric codes; only 3 and 4 are documented.
_STATUS_CODES = {
    "failed": 0,
    "pending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "played": 5,
    "deleted": 6,
}
# The device id Whapi stamps on messages sent through its API.
_API_DEVICE_ID = 11


def new_message_id() -> str:
    """Return a fresh message id in Whapi's ``<15 chars>-<10 chars>`` form."""
    head = "".join(secrets.choice(_ID_ALPHABET) for _ in range(15))
    tail = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
    return f"{head}-{tail}"


def envelope(key: str, items: list[Any], event_type: str, method: str = "post") -> dict[str, Any]:
    """Wrap items in a webhook envelope.

    Args:
        key: the payload key, e.g. ``"messages"`` or ``"statuses"``.
        items: the objects carried under ``key``.
        event_type: the ``event.type`` value, e.g. ``"messages"``.
        method: the ``event.event`` value (``post``, ``put``, ``patch``, ``delete``).

    Returns:
        The envelope dict.
    """
    return {
        key: list(items),
        "event": {"type": event_type, "event": method},
        "channel_id": CHANNEL_ID,
    }


def message(
    chat_id: str,
    kind: str,
    content: dict[str, Any],
    *,
    message_id: str | None = None,
    sender: str | None = None,
    name: str | None = "Guest",
    from_me: bool = False,
    source: str = "mobile",
    timestamp: int | None = None,
    own_number: str = OWN_NUMBER,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one Message object (not wrapped in an envelope).

    Args:
        chat_id: the chat, e.g. ``"15552220000@s.whatsapp.net"`` or ``"…@g.us"``.
        kind: the message type; the content goes under the key of the same name.
        content: the type's object, e.g. ``{"body": "hi"}`` for text.
        message_id: the id; a fresh one when ``None``.
        sender: the bare number in ``from``; defaults to the chat's number, or to
            ``own_number`` when ``from_me``.
        name: the sender's push name; omitted when ``None`` and on API sends, which
            Whapi echoes without one.
        from_me: whether our own channel sent it.
        source: ``mobile``, ``web``, ``api`` ...
        timestamp: unix seconds; now when ``None``.
        own_number: our channel's number.
        context: an optional ``context`` object (quote, forward, mentions).

    Returns:
        The message dict.
    """
    if sender is None:
        sender = own_number if from_me else _bare(chat_id)
    built: dict[str, Any] = {
        "id": message_id or new_message_id(),
        "from_me": from_me,
        "type": kind,
        "chat_id": chat_id,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "source": source,
    }
    if from_me:
        # API sends are still queued when echoed; phone-typed ones already went out.
        built["status"] = "pending" if source == "api" else "sent"
    if source == "api":
        built["device_id"] = _API_DEVICE_ID
    built[kind] = content
    if context is not None:
        built["context"] = context
    built["from"] = sender
    if name is not None and source != "api":
        built["from_name"] = name
    return built


def text_message(
    chat_id: str,
    body: str,
    *,
    message_id: str | None = None,
    name: str = "Guest",
    from_me: bool = False,
    source: str = "mobile",
    timestamp: int | None = None,
    own_number: str = OWN_NUMBER,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a ``messages.post`` webhook carrying one text message.

    Args:
        chat_id: the 1:1 chat id.
        body: the text.
        message_id: the id; a fresh one when ``None``.
        name: the sender's push name.
        from_me: whether our own channel sent it (``from`` is then ``own_number``).
        source: ``mobile``, ``web``, ``api`` ...
        timestamp: unix seconds; now when ``None``.
        own_number: our channel's number.
        context: an optional ``context`` object, e.g. ``{"quoted_id": ...}``.

    Returns:
        The webhook envelope.
    """
    item = message(
        chat_id,
        "text",
        {"body": body},
        message_id=message_id,
        name=name,
        from_me=from_me,
        source=source,
        timestamp=timestamp,
        own_number=own_number,
        context=context,
    )
    return envelope("messages", [item], "messages")


def voice_message(
    chat_id: str,
    media_id: str,
    *,
    seconds: int = 3,
    link: str | None = None,
    mime_type: str = "audio/ogg; codecs=opus",
    file_size: int = 8192,
    message_id: str | None = None,
    name: str = "Guest",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Build a ``messages.post`` webhook carrying one inbound voice note.

    Args:
        chat_id: the 1:1 chat id.
        media_id: the MediaID to fetch through ``GET /media/{id}``.
        seconds: the note's length.
        link: the auto-download URL; omitted when ``None``, as when auto-download is off.
        mime_type: the audio's content type.
        file_size: the size in bytes.
        message_id: the id; a fresh one when ``None``.
        name: the sender's push name.
        timestamp: unix seconds; now when ``None``.

    Returns:
        The webhook envelope.
    """
    content: dict[str, Any] = {
        "id": media_id,
        "mime_type": mime_type,
        "file_size": file_size,
        "seconds": seconds,
    }
    if link is not None:
        content["link"] = link
    item = message(chat_id, "voice", content, message_id=message_id, name=name, timestamp=timestamp)
    return envelope("messages", [item], "messages")


def image_message(
    chat_id: str,
    media_id: str,
    *,
    caption: str | None = None,
    link: str | None = None,
    mime_type: str = "image/jpeg",
    width: int = 640,
    height: int = 480,
    message_id: str | None = None,
    name: str = "Guest",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Build a ``messages.post`` webhook carrying one inbound image.

    Args:
        chat_id: the 1:1 chat id.
        media_id: the MediaID to fetch through ``GET /media/{id}``.
        caption: the caption; omitted when ``None``.
        link: the auto-download URL; omitted when ``None``.
        mime_type: the image's content type.
        width: the width in pixels.
        height: the height in pixels.
        message_id: the id; a fresh one when ``None``.
        name: the sender's push name.
        timestamp: unix seconds; now when ``None``.

    Returns:
        The webhook envelope.
    """
    content: dict[str, Any] = {
        "id": media_id,
        "mime_type": mime_type,
        "width": width,
        "height": height,
    }
    if link is not None:
        content["link"] = link
    return _inbound_media(
        chat_id,
        "image",
        content,
        caption=caption,
        message_id=message_id,
        name=name,
        timestamp=timestamp,
    )


def document_message(
    chat_id: str,
    media_id: str,
    *,
    file_name: str = "document.pdf",
    caption: str | None = None,
    mime_type: str = "application/pdf",
    message_id: str | None = None,
    name: str = "Guest",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Build a ``messages.post`` webhook carrying one inbound document.

    Args:
        chat_id: the 1:1 chat id.
        media_id: the MediaID to fetch through ``GET /media/{id}``.
        file_name: the document's name (Whapi gives it as ``file_name`` and ``filename``).
        caption: the caption; omitted when ``None``.
        mime_type: the document's content type.
        message_id: the id; a fresh one when ``None``.
        name: the sender's push name.
        timestamp: unix seconds; now when ``None``.

    Returns:
        The webhook envelope.
    """
    content: dict[str, Any] = {
        "id": media_id,
        "mime_type": mime_type,
        "file_name": file_name,
        "filename": file_name,
    }
    return _inbound_media(
        chat_id,
        "document",
        content,
        caption=caption,
        message_id=message_id,
        name=name,
        timestamp=timestamp,
    )


def _inbound_media(
    chat_id: str,
    kind: str,
    content: dict[str, Any],
    *,
    caption: str | None,
    message_id: str | None,
    name: str,
    timestamp: int | None,
) -> dict[str, Any]:
    """Wrap one inbound media message (with its caption, if any) in a webhook envelope."""
    if caption is not None:
        content["caption"] = caption
    item = message(chat_id, kind, content, message_id=message_id, name=name, timestamp=timestamp)
    return envelope("messages", [item], "messages")


def group_text_message(
    group_id: str,
    participant: str,
    body: str,
    *,
    group_name: str = "Fake group",
    message_id: str | None = None,
    name: str = "Guest",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Build a ``messages.post`` webhook carrying one text sent in a group.

    Args:
        group_id: the group chat id, ``<digits>@g.us``.
        participant: the sender's number (a ``@…`` suffix is dropped).
        body: the text.
        group_name: the ``chat_name``.
        message_id: the id; a fresh one when ``None``.
        name: the sender's push name.
        timestamp: unix seconds; now when ``None``.

    Returns:
        The webhook envelope.
    """
    item = message(
        group_id,
        "text",
        {"body": body},
        message_id=message_id,
        sender=_bare(participant),
        name=name,
        timestamp=timestamp,
    )
    item["chat_name"] = group_name
    return envelope("messages", [item], "messages")


def presence(contact_id: str, status: str, last_seen: int | None = None) -> dict[str, Any]:
    """Build a ``presences.post`` webhook.

    Args:
        contact_id: the contact; Whapi sends a bare number, so a ``@…`` suffix is dropped.
        status: ``typing``, ``recording``, ``online``, ``offline`` or ``pending``.
        last_seen: unix seconds; omitted when ``None``.

    Returns:
        The webhook envelope.
    """
    item: dict[str, Any] = {"contact_id": _bare(contact_id), "status": status}
    if last_seen is not None:
        item["last_seen"] = last_seen
    return envelope("presences", [item], "presences")


def status_update(
    message_id: str,
    status: str,
    recipient_id: str,
    code: int | None = None,
    *,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Build a ``statuses.post`` webhook for one of our messages.

    Args:
        message_id: the id of the message whose status changed.
        status: ``sent``, ``delivered``, ``read``, ``failed`` ...
        recipient_id: the peer's chat id.
        code: the numeric code; derived from ``status`` when ``None``.
        timestamp: unix seconds; now when ``None``. Whapi sends it as a string.

    Returns:
        The webhook envelope.

    Raises:
        KeyError: ``code`` is ``None`` and ``status`` is not a Whapi status.
    """
    item = {
        "id": message_id,
        "code": _STATUS_CODES[status] if code is None else code,
        "status": status,
        "recipient_id": recipient_id,
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
    }
    return envelope("statuses", [item], "statuses")


def _bare(chat_id: str) -> str:
    return chat_id.split("@", 1)[0]
