"""Whapi webhook payloads, read tolerantly.

Whapi posts an envelope holding one payload key (``messages``, ``statuses``,
``presences``, ...). Fields come and go between Whapi versions and message types, so
each item is converted on its own: one odd item is counted and skipped, the rest of the
delivery still counts. Unknown keys and unknown message types are ignored, timestamps
may be numbers or strings, and nothing here assumes the items arrive in order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from conserje.errors import MalformedWebhook

__all__ = [
    "MEDIA_TYPES",
    "InboundMedia",
    "InboundMessage",
    "InboundPresence",
    "MessageKind",
    "WebhookBatch",
    "chat_type",
    "parse_webhook",
]

_T = TypeVar("_T")


class _Body(msgspec.Struct):
    body: str = ""


class _Context(msgspec.Struct):
    quoted_id: str = ""
    quoted_content: _Body | None = None


class InboundMedia(msgspec.Struct, kw_only=True):
    """A media object of a message (``voice``, ``audio``, ``image``, ``document``)."""

    id: str
    mime_type: str = ""
    file_size: int = 0
    link: str = ""
    caption: str = ""
    file_name: str = ""
    filename: str = ""


MEDIA_TYPES = ("voice", "audio", "image", "document")
"""Message types whose media Conserje fetches and gives the model."""


class InboundMessage(msgspec.Struct, kw_only=True):
    """One item of ``messages``; only the fields Conserje reads."""

    id: str
    type: str
    chat_id: str
    from_me: bool = False
    timestamp: int = 0
    source: str = ""
    sender: str = msgspec.field(default="", name="from")
    from_name: str = ""
    text: _Body | None = None
    link_preview: _Body | None = None
    context: _Context | None = None
    voice: InboundMedia | None = None
    audio: InboundMedia | None = None
    image: InboundMedia | None = None
    document: InboundMedia | None = None

    @property
    def media(self) -> InboundMedia | None:
        """The media object of a voice, audio, image or document message, else ``None``."""
        if self.type not in MEDIA_TYPES:
            return None
        media = getattr(self, self.type)
        return media if isinstance(media, InboundMedia) and media.id else None

    @property
    def quoted(self) -> str:
        """The text of the message this one replies to, when WhatsApp includes it."""
        if self.context is None or self.context.quoted_content is None:
            return ""
        return self.context.quoted_content.body

    @property
    def body(self) -> str:
        """The text the message carries, for ``text`` and ``link_preview`` types."""
        for part in (self.text, self.link_preview):
            if part is not None and part.body:
                return part.body
        return ""


class InboundPresence(msgspec.Struct, kw_only=True):
    """One item of ``presences``: a contact typing, recording or going quiet."""

    contact_id: str
    status: str


class MessageKind(enum.Enum):
    """What a message means to Conserje."""

    GUEST_TEXT = "guest_text"
    GUEST_MEDIA = "guest_media"
    ECHO = "echo"
    AGENT = "agent"
    GROUP = "group"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class WebhookBatch:
    """The items of one webhook delivery that Conserje could read.

    Attributes:
        messages: readable ``messages`` items.
        presences: readable ``presences`` items.
        rejected: items present but unreadable (wrong types, missing ids).
        event_type: the envelope's ``event.type`` (``""`` when absent or not a string).
    """

    messages: list[InboundMessage]
    presences: list[InboundPresence]
    rejected: int
    event_type: str = ""

    def classify(
        self, message: InboundMessage, chat_types: frozenset[str] = frozenset({"contact"})
    ) -> MessageKind:
        """Tell what ``message`` is: a guest's text, an echo of our send, and so on.

        Args:
            message: one message of this delivery.
            chat_types: the chat types the assistant answers (``contact``, ``group``).
        """
        kind_of_chat = chat_type(message.chat_id)
        if kind_of_chat not in chat_types:
            return MessageKind.GROUP
        if message.from_me:
            return MessageKind.ECHO if message.source == "api" else MessageKind.AGENT
        if message.type in ("text", "link_preview") and message.body.strip():
            return MessageKind.GUEST_TEXT
        if message.media is not None:
            return MessageKind.GUEST_MEDIA
        return MessageKind.UNSUPPORTED


def chat_type(chat_id: str) -> str:
    """Return ``contact`` (1:1), ``group``, ``newsletter`` or ``other`` for a chat id."""
    _, _, domain = chat_id.partition("@")
    return {"s.whatsapp.net": "contact", "g.us": "group", "newsletter": "newsletter"}.get(
        domain, "other"
    )


def parse_webhook(body: bytes) -> WebhookBatch:
    """Read a webhook body.

    Raises:
        MalformedWebhook: the body is not JSON, or not a JSON object.
    """
    try:
        envelope = msgspec.json.decode(body)
    # msgspec reports bad UTF-8 inside a string and very deep nesting with Python's
    # own exceptions rather than DecodeError; all three mean "not a webhook".
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedWebhook(f"body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise MalformedWebhook("body is not a JSON object")
    messages, bad_messages = _convert_items(envelope.get("messages"), InboundMessage)
    presences, bad_presences = _convert_items(envelope.get("presences"), InboundPresence)
    event = envelope.get("event")
    event_type = event.get("type") if isinstance(event, dict) else None
    return WebhookBatch(
        messages,
        presences,
        bad_messages + bad_presences,
        event_type if isinstance(event_type, str) else "",
    )


def _convert_items(items: Any, kind: type[_T]) -> tuple[list[_T], int]:
    if items is None:
        return [], 0
    if not isinstance(items, list):
        return [], 1
    good: list[_T] = []
    bad = 0
    for item in items:
        try:
            good.append(msgspec.convert(item, kind, strict=False))
        except msgspec.ValidationError:
            bad += 1
    return good, bad
