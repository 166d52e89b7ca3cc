"""Hypothesis strategies for hostile webhook bodies, and the checks every answer must pass.

A delivery is built as Whapi shapes it (an envelope with ``messages``, ``statuses``,
``presences``...), then broken on purpose: fields of the wrong type or missing, every
Whapi message type and unknown ones, huge strings, deep nesting, and, at the byte level,
invalid UTF-8, duplicated keys and truncation. Some deliveries also carry one well-formed
guest text with a fresh id (a "marker"): when the server answers 200, that message must be
in the journal.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CHAT = "34600111222@s.whatsapp.net"


def fuzz_settings(examples: int) -> settings:
    """Bounded Hypothesis settings: ``examples`` in CI, ``CONSERJE_FUZZ_EXAMPLES`` by hand.

    Each example talks to a server, so the deadline is generous (the machine may be
    busy) and the health checks about slow or large data do not apply.
    """
    return settings(
        max_examples=int(os.environ.get("CONSERJE_FUZZ_EXAMPLES", examples)),
        deadline=timedelta(seconds=20),
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# Whapi's MessageType enum, plus names it does not have (yet).
MESSAGE_TYPES = [
    *[
        "text",
        "image",
        "video",
        "gif",
        "audio",
        "voice",
        "short",
        "document",
        "link_preview",
        "location",
        "live_location",
        "contact",
        "contact_list",
        "sticker",
        "system",
        "call",
        "unknown",
        "action",
        "group_invite",
        "admin_invite",
        "product",
        "catalog",
        "interactive",
        "reply",
        "poll",
        "hsm",
        "order",
        "story",
        "poll_update",
    ],
    "hologram",
    "",
    "TEXT",
    "text ",
]

PAYLOAD_KEYS = (
    "messages",
    "statuses",
    "presences",
    "chats",
    "contacts",
    "groups",
    "calls",
    "labels",
    "users",
    "service",
    "channel",
)

CHAT_IDS = (
    CHAT,
    "34600999888@s.whatsapp.net",
    "120363555000111222@g.us",
    "120363000111222333@newsletter",
    "status@broadcast",
    "@s.whatsapp.net",
    "",
    "34600111222",
    # Ids that would be other Whapi endpoints if put in a URL path as they are.
    "../../settings?x=@s.whatsapp.net",
    "..@s.whatsapp.net",
)

_counter = itertools.count()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes anything at all."""
    return st.one_of(right, right, right, json_values)


MEDIA_TYPES = frozenset({"image", "video", "gif", "audio", "voice", "short", "document", "sticker"})

# Links a hostile sender might hope the server fetches for them.
LINKS = (
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/x.jpeg",
    "http://10.0.0.1/in-files/1/x.oga",
    "file:///etc/passwd",
    "https://s3.eu-central-1.wasabisys.invalid/in-files/1/x.jpeg",
    "",
)


def _text_content() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"body": _maybe(st.text())})


def _media() -> st.SearchStrategy[Any]:
    """A media object (Whapi's MediaFile), its fields sometimes wrong or missing."""
    return st.fixed_dictionaries(
        {"id": _maybe(st.text(min_size=1, max_size=30) | st.just("../../settings"))},
        optional={
            "mime_type": _maybe(
                st.sampled_from(("audio/ogg; codecs=opus", "image/jpeg", "application/pdf", ""))
            ),
            "file_size": _maybe(st.integers(min_value=-1, max_value=2**40)),
            "link": _maybe(st.sampled_from(LINKS)),
            "caption": _maybe(st.text(max_size=50)),
            "seconds": _maybe(st.integers(min_value=-1, max_value=10**6)),
        },
    )


@st.composite
def message_items(draw: st.DrawFn) -> Any:
    """One ``messages`` item of any type, with fields wrong, missing or huge."""
    kind = draw(st.sampled_from(MESSAGE_TYPES))
    item: dict[str, Any] = {
        "id": draw(_maybe(st.text(min_size=1, max_size=40))),
        "type": draw(_maybe(st.just(kind))),
        "chat_id": draw(_maybe(st.sampled_from(CHAT_IDS) | st.text(max_size=40))),
        "from_me": draw(_maybe(st.booleans())),
        "timestamp": draw(_maybe(st.integers(min_value=0, max_value=2**40) | st.text(max_size=12))),
        "source": draw(_maybe(st.sampled_from(("mobile", "api", "web", "system")))),
        "from": draw(_maybe(st.text(max_size=20))),
        "from_name": draw(_maybe(st.text(max_size=30))),
        kind or "x": draw(_maybe(_media() if kind in MEDIA_TYPES else _text_content())),
        "context": draw(
            _maybe(
                st.fixed_dictionaries(
                    {"quoted_id": _maybe(st.text(max_size=20))},
                    optional={
                        "quoted_content": _maybe(st.fixed_dictionaries({"body": _maybe(st.text())}))
                    },
                )
            )
        ),
    }
    for field in draw(st.sets(st.sampled_from(sorted(item)), max_size=4)):
        del item[field]
    return draw(st.one_of(st.just(item), st.just(item), json_values))


def _presences() -> st.SearchStrategy[Any]:
    return st.lists(
        _maybe(
            st.fixed_dictionaries(
                {
                    "contact_id": _maybe(st.sampled_from(("34600111222", "", "x1", "٣٤٦"))),
                    "status": _maybe(
                        st.sampled_from(("typing", "recording", "pause", "TYPING", ""))
                    ),
                }
            )
        ),
        max_size=3,
    )


def marker(message_id: str) -> dict[str, Any]:
    """A well-formed guest text, which a 200 answer promises is journaled."""
    return {
        "id": message_id,
        "from_me": False,
        "type": "text",
        "chat_id": CHAT,
        "timestamp": 1_730_000_000,
        "source": "mobile",
        "text": {"body": f"hola {message_id}"},
        "from": "34600111222",
        "from_name": "Inés",
    }


@dataclass(frozen=True)
class Delivery:
    """A webhook body and the well-formed message it carries, if it carries one intact."""

    body: bytes
    marker: str | None


@st.composite
def envelopes(draw: st.DrawFn) -> Delivery:
    """A Whapi envelope whose items are hostile; maybe with a marker among its messages."""
    key = draw(st.sampled_from(PAYLOAD_KEYS))
    env: dict[str, Any] = {
        "event": draw(
            _maybe(st.fixed_dictionaries({"type": st.just(key), "event": st.just("post")}))
        ),
        "channel_id": draw(_maybe(st.just("MANTIS-M72HC"))),
    }
    if key == "presences":
        env[key] = draw(_maybe(_presences()))
    else:
        env[key] = draw(_maybe(st.lists(message_items(), max_size=4)))
    mark = None
    if key != "messages" or draw(st.booleans()):
        env["messages"] = draw(st.lists(message_items(), max_size=3))
        if draw(st.booleans()):
            mark = f"marker-{next(_counter)}-{draw(st.integers(0, 10**9))}"
            env["messages"].insert(draw(st.integers(0, len(env["messages"]))), marker(mark))
    # NaN and Infinity come out as such: JSON has no such tokens, so those are malformed.
    return Delivery(json.dumps(env).encode(), mark)


@st.composite
def broken_bytes(draw: st.DrawFn) -> Delivery:
    """A delivery broken at the byte level: its marker, if any, no longer counts."""
    delivery = draw(envelopes())
    body = delivery.body
    how = draw(st.sampled_from(("utf8", "duplicate", "truncate", "nest", "huge", "raw")))
    if how == "utf8":
        at = draw(st.integers(0, len(body)))
        bad = draw(
            st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"))
        )
        body = body[:at] + bad + body[at:]
    elif how == "duplicate":
        other = draw(st.sampled_from((b"null", b"[]", b"{}", b'"x"', b'[{"id": 1}]')))
        key = draw(st.sampled_from((b"messages", b"presences", b"event")))
        # The same key twice: once before and once after the original ones.
        body = (
            b'{"' + key + b'": ' + other + b", " + body[1:-1] + b', "' + key + b'": ' + other + b"}"
        )
    elif how == "truncate":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif how == "nest":
        depth = draw(st.sampled_from((64, 1_000, 10_000, 100_000)))
        opener, closer = draw(st.sampled_from(((b"[", b"]"), (b'{"a":', b"}"))))
        body = b'{"messages": [' + opener * depth + b"1" + closer * depth + b"]}"
    elif how == "huge":
        size = draw(st.sampled_from((10_000, 200_000, 900_000)))
        body = json.dumps(
            {"messages": [marker("huge") | {"text": {"body": "é" * (size // 2)}}]}
        ).encode()
        return Delivery(body, None)
    else:
        body = draw(st.binary(max_size=200))
    return Delivery(body, None)


deliveries = st.one_of(envelopes(), envelopes(), broken_bytes())
"""Every kind of hostile delivery, weighted towards well-formed JSON that reaches the parser."""

ANSWERS = {200, 400, 413}
"""The only statuses a webhook may get from a healthy server (no token, journal fine)."""
