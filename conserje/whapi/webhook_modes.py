"""Whapi's webhook modes: what the path segments after ``/hook`` say.

A channel's webhook has a ``mode`` (Whapi's ``PATCH /settings``):

- ``body`` (the default): every event is a POST to the URL itself.
- ``path``: ``/{type}/{method}`` is appended to the URL, e.g. ``POST /hook/messages/post``.
- ``method``: the event's method is the HTTP verb and ``/{type}`` is appended, e.g.
  ``PATCH /hook/messages`` for an edited message.

With the token in the URL (``/hook/<token>``) those segments follow it. The settings
refuse a ``WEBHOOK_TOKEN`` that is an event type or method name, so every segment is
told apart by its name alone and an event type is never taken for a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "EVENT_METHODS",
    "EVENT_TYPES",
    "RESERVED_NAMES",
    "HookPath",
    "NotAWebhookPath",
    "read_hook_path",
]

# Whapi's event types. Its documentation also writes the singular (``/message/post``),
# so both spellings are read, each as the type of the payload key it names.
EVENT_TYPES: dict[str, str] = {
    **{name: name for name in ("messages", "statuses", "presences", "chats", "contacts")},
    **{name: name for name in ("groups", "calls", "labels", "users", "channel", "service")},
    "message": "messages",
    "status": "statuses",
    "presence": "presences",
    "chat": "chats",
    "contact": "contacts",
    "group": "groups",
    "call": "calls",
    "label": "labels",
    "user": "users",
}
"""Every event type name a URL may carry, to the payload key it stands for."""

EVENT_METHODS = frozenset({"post", "put", "patch", "delete"})
"""Whapi's event methods: ``post`` is a new item, the others change or remove one."""

RESERVED_NAMES = frozenset(EVENT_TYPES) | EVENT_METHODS
"""Names a path segment after ``/hook`` may mean; never a token."""


class NotAWebhookPath(ValueError):
    """The segments after ``/hook`` are none of the forms Whapi's modes produce."""


@dataclass(frozen=True)
class HookPath:
    """What a webhook URL said.

    Attributes:
        token: the token segment (``/hook/<token>``), if any.
        event_type: the payload key the URL names (path and method modes), if any.
        method: the event method the URL names (path mode), if any.
    """

    token: str | None = None
    event_type: str | None = None
    method: str | None = None

    def is_new_item(self, verb: str) -> bool:
        """Tell whether a delivery sent with HTTP ``verb`` to this path carries new items.

        Only ``post`` events (a new message, a presence, a status) are read; an
        edit, update or deletion (another verb in method mode, another method in
        path mode) needs nothing from Conserje.
        """
        return verb == "POST" and self.method in (None, "post")


def read_hook_path(segments: Sequence[str], verb: str) -> HookPath:
    """Read the path segments after ``/hook`` of a delivery sent with HTTP ``verb``.

    The forms are ``/hook``, ``/hook/<token>``, and in path and method modes
    ``/hook/<type>``, ``/hook/<type>/<method>``, ``/hook/<token>/<type>`` and
    ``/hook/<token>/<type>/<method>``.

    Raises:
        NotAWebhookPath: the segments are none of those forms; the message says why.
    """
    match tuple(segments):
        case ():
            return HookPath()
        case (name,) if name in EVENT_TYPES:
            return HookPath(event_type=EVENT_TYPES[name])
        case (token,) if verb == "POST" and token not in RESERVED_NAMES:
            return HookPath(token=token)
        case (name, method) if name in EVENT_TYPES and method in EVENT_METHODS:
            return HookPath(event_type=EVENT_TYPES[name], method=method)
        case (token, name) if token not in RESERVED_NAMES and name in EVENT_TYPES:
            return HookPath(token=token, event_type=EVENT_TYPES[name])
        case (token, name, method) if (
            token not in RESERVED_NAMES and name in EVENT_TYPES and method in EVENT_METHODS
        ):
            return HookPath(token=token, event_type=EVENT_TYPES[name], method=method)
    # The segments are not repeated back: one of them may be a mistyped token.
    raise NotAWebhookPath(
        f"{verb} to this path is not a webhook delivery: after /hook come the token, then "
        "(Whapi's path and method modes) an event type such as messages, then (path mode) "
        "an event method: post, put, patch or delete"
    )
