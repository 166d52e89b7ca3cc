"""What a chat id is, for the operators' endpoints and the audit commands.

WhatsApp names a chat ``<number>@<server>``: a person ``34600111222@s.whatsapp.net``
(``@c.us`` in older APIs, ``@lid`` for a hidden number), a group
``120363000000000001@g.us`` (older groups ``<creator>-<time>@g.us``), a channel
``<number>@newsletter``. Whapi's description allows 10 to 31 digits and hyphens before
the ``@``; the ids in use have digits with at most one hyphen (phone numbers at most 15
digits, group ids about 18), so one hyphen and 20 digits a part bound an id that reaches
the journal from an admin's request, and the short numbers of tests pass too.

Readers (timelines, ``conserje log``) also take the part before the ``@`` alone, with
or without a ``+``: ``34600111222`` names the chat whatever its server. Writers (pause,
resume, reset) journal the id they are given, so they take only a full one: a phone
number alone would journal a chat no guest writes from.
"""

from __future__ import annotations

import re

__all__ = [
    "CHAT_ID_PATTERN",
    "CHAT_OR_NUMBER_PATTERN",
    "BadChatId",
    "chat_id",
    "chat_or_number",
]

_NUMBER = r"[0-9]{1,20}(-[0-9]{1,20})?"
_SERVERS = r"(s\.whatsapp\.net|c\.us|g\.us|lid|newsletter)"

CHAT_ID_PATTERN = f"^{_NUMBER}@{_SERVERS}$"
"""A full chat id, as a regular expression (also the OpenAPI description's pattern)."""

CHAT_OR_NUMBER_PATTERN = rf"^(\+?{_NUMBER}|{_NUMBER}@{_SERVERS})$"
"""A full chat id or its number alone (``+`` allowed), as a regular expression."""

_CHAT_ID = re.compile(CHAT_ID_PATTERN)
_CHAT_OR_NUMBER = re.compile(CHAT_OR_NUMBER_PATTERN)
_SHOWN = 40
"""Characters of a refused id quoted back in the error (ids are far shorter)."""

_EXAMPLES = "34600111222@s.whatsapp.net or, for a group, 120363000000000001@g.us"


class BadChatId(ValueError):
    """A text is not a chat id; the message says what one looks like."""


def chat_id(text: str) -> str:
    """Return ``text`` if it is a full chat id.

    Raises:
        BadChatId: it is not; for a number alone, the message names the full id.
    """
    if _CHAT_ID.fullmatch(text):
        return text
    number = text.removeprefix("+")
    if _CHAT_OR_NUMBER.fullmatch(text) and "-" not in number:
        raise BadChatId(
            f"{_quoted(text)} is a number, not a chat id: "
            f"the chat of a person is {number}@s.whatsapp.net"
        )
    raise BadChatId(f"{_quoted(text)} is not a chat id: use one like {_EXAMPLES}")


def chat_or_number(text: str) -> str:
    """Return ``text`` if it is a full chat id or its number alone.

    Raises:
        BadChatId: it is neither.
    """
    if _CHAT_OR_NUMBER.fullmatch(text):
        return text
    raise BadChatId(f"{_quoted(text)} is not a chat: use its id ({_EXAMPLES}) or its phone digits")


def _quoted(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")
