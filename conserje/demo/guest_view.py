"""What the guest's phone shows: the chat as the fake Whapi delivered it.

Whapi shows "typing…" for a message's ``typing_time`` before it delivers it, one message
after the other in a chat, and WhatsApp shows a "typing…" presence for a while or until
a message arrives. :func:`guest_view` plays those rules over what the fake Whapi was
asked to do, so the simulator shows the replies arrive as a guest would see them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from threading import Lock
from typing import Any

__all__ = ["TYPING_SHOWN_SECONDS", "GuestLog", "GuestMessage", "guest_view"]

TYPING_SHOWN_SECONDS = 25.0
"""How long WhatsApp keeps showing a "typing…" presence that nothing ended."""


@dataclass(frozen=True)
class GuestMessage:
    """One message in the chat, from either side.

    Attributes:
        id: the WhatsApp message id.
        chat: the chat id.
        mine: the guest sent it (``False``: the assistant did).
        type: ``text``, ``voice`` or ``image``.
        text: the text or caption (``""`` for media without one).
        at: when Whapi received it (unix seconds).
        typing_time: seconds of "typing…" Whapi shows before delivering it.
    """

    id: str
    chat: str
    mine: bool
    type: str
    text: str
    at: float
    typing_time: float = 0.0


class GuestLog:
    """The messages the simulator's guests sent, newest kept (bounded).

    Args:
        capacity: how many messages are kept, across all chats.
    """

    def __init__(self, capacity: int = 2000) -> None:
        self._messages: deque[GuestMessage] = deque(maxlen=capacity)
        self._lock = Lock()

    def add(self, message: GuestMessage) -> None:
        """Remember a message a guest sent."""
        with self._lock:
            self._messages.append(message)

    def of(self, chat: str) -> list[GuestMessage]:
        """Return one chat's messages, oldest first."""
        with self._lock:
            return [m for m in self._messages if m.chat == chat]


def guest_view(
    sent_by_guest: Iterable[GuestMessage],
    sent_to_guest: Iterable[GuestMessage],
    presences: Iterable[tuple[float, str]],
    read_ids: Iterable[str],
    now: float,
) -> dict[str, Any]:
    """Build the chat as the guest's phone shows it at ``now``.

    Args:
        sent_by_guest: the guest's messages.
        sent_to_guest: the messages the assistant sent through Whapi, in order.
        presences: ``(time, presence)`` the assistant set for this chat, in order.
        read_ids: ids of messages the assistant marked read.
        now: the current time.

    Returns:
        ``messages`` (delivered ones, oldest first, each with ``id``, ``from``
        (``guest`` or ``assistant``), ``type``, ``text``, ``at`` and, for the guest's,
        ``read``) and ``typing`` (whether "typing…" shows now).
    """
    read = set(read_ids)
    shown: list[tuple[float, dict[str, Any]]] = [
        (m.at, {**_wire(m, m.at), "from": "guest", "read": m.id in read}) for m in sent_by_guest
    ]
    # Whapi delivers a chat's messages one after the other, each after its typing time.
    free_at = 0.0
    pending = False
    last_delivery = 0.0
    for message in sent_to_guest:
        delivered = max(message.at, free_at) + message.typing_time
        free_at = delivered
        if delivered > now:
            pending = True
            continue
        last_delivery = max(last_delivery, delivered)
        shown.append((delivered, {**_wire(message, delivered), "from": "assistant"}))
    shown.sort(key=lambda pair: pair[0])
    return {
        "messages": [message for _, message in shown],
        "typing": pending or _presence_typing(presences, last_delivery, now),
    }


def _wire(message: GuestMessage, at: float) -> dict[str, Any]:
    return {"id": message.id, "type": message.type, "text": message.text, "at": at}


def _presence_typing(presences: Iterable[tuple[float, str]], since: float, now: float) -> bool:
    """Tell whether the latest presence is a "typing…" still shown at ``now``."""
    latest = None
    for at, presence in presences:
        latest = (at, presence)
    if latest is None:
        return False
    at, presence = latest
    # A message delivered after the presence ends it, as on the phone.
    return presence == "typing" and at > since and now - at < TYPING_SHOWN_SECONDS
