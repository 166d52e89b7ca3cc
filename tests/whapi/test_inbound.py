"""Reading Whapi webhook deliveries: tolerant per item, strict about the envelope."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conserje.errors import MalformedWebhook
from conserje.testing import payloads
from conserje.whapi.inbound import MessageKind, WebhookBatch, chat_type, parse_webhook

OWN = "34911000222"
GUEST = "34677123456"
GUEST_CHAT = f"{GUEST}@s.whatsapp.net"
GROUP_CHAT = "120363555000111222@g.us"


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def delivery(*items, key="messages", **extra) -> bytes:
    envelope = {key: list(items), "event": {"type": key, "event": "post"}, "channel_id": "ORCA-Q1"}
    envelope.update(extra)
    return body(envelope)


def guest_text(message_id="Kq3vT8mZr2Lx9P-hN4cQ1wYb0s", text="¿Tenéis parking?", **overrides):
    item = {
        "id": message_id,
        "from_me": False,
        "type": "text",
        "chat_id": GUEST_CHAT,
        "timestamp": 1730000123,
        "source": "mobile",
        "text": {"body": text},
        "from": GUEST,
        "from_name": "Inés Roldán",
    }
    item.update(overrides)
    return item


def only_message(raw: bytes):
    batch = parse_webhook(raw)
    assert batch.rejected == 0
    assert len(batch.messages) == 1
    return batch, batch.messages[0]


# --- messages -------------------------------------------------------------------------


def test_incoming_text_is_a_guest_text_with_its_fields():
    batch, message = only_message(delivery(guest_text()))

    assert batch.classify(message) is MessageKind.GUEST_TEXT
    assert message.id == "Kq3vT8mZr2Lx9P-hN4cQ1wYb0s"
    assert message.chat_id == GUEST_CHAT
    assert message.body == "¿Tenéis parking?"
    assert message.from_name == "Inés Roldán"
    assert message.sender == GUEST
    assert message.timestamp == 1730000123
    assert isinstance(message.timestamp, int)
    assert message.from_me is False


def test_timestamp_given_as_a_string_becomes_an_int():
    _, message = only_message(delivery(guest_text(timestamp="1712995245")))

    assert message.timestamp == 1712995245
    assert isinstance(message.timestamp, int)


def test_link_preview_text_is_read_from_its_body():
    item = guest_text(
        message_id="Lp8wQx2Rt5Yb7N-kJ3mV6cZs1a",
        type="link_preview",
        link_preview={
            "body": "Mirad esto https://example.org/habitaciones",
            "url": "https://example.org/habitaciones",
            "title": "Habitaciones",
        },
    )
    del item["text"]
    batch, message = only_message(delivery(item))

    assert message.body == "Mirad esto https://example.org/habitaciones"
    assert batch.classify(message) is MessageKind.GUEST_TEXT


def test_a_voice_note_is_guest_media():
    raw = body(
        payloads.voice_message(
            GUEST_CHAT,
            "oga-7b1e00aa11bb22cc33dd-90f0a1b2c3d4e5",
            message_id="Vn5tGh7Jk9Lm2P-qR4sT6uW8xY",
        )
    )
    batch, message = only_message(raw)

    assert message.type == "voice"
    assert message.body == ""
    assert batch.classify(message) is MessageKind.GUEST_MEDIA
    assert message.media is not None
    assert (message.media.id, message.media.mime_type) == (
        "oga-7b1e00aa11bb22cc33dd-90f0a1b2c3d4e5",
        "audio/ogg; codecs=opus",
    )


def test_an_image_with_caption_is_guest_media():
    raw = body(
        payloads.image_message(
            GUEST_CHAT,
            "jpeg-4c2d11ee22ff33aa44bb-71a2b3c4d5e6f7",
            caption="La factura de marzo",
            message_id="Im4gE9aB2cD-eF3gH5iJ7k",
        )
    )
    batch, message = only_message(raw)

    assert message.type == "image"
    assert batch.classify(message) is MessageKind.GUEST_MEDIA
    assert message.media is not None
    assert message.media.caption == "La factura de marzo"


def test_a_sticker_is_still_unsupported():
    raw = body(
        {
            "messages": [
                {
                    "id": "St1ck3r-aa",
                    "type": "sticker",
                    "chat_id": GUEST_CHAT,
                    "from_me": False,
                    "sticker": {"id": "webp-00aa-11bb", "mime_type": "image/webp"},
                }
            ]
        }
    )
    batch, message = only_message(raw)

    assert message.media is None
    assert batch.classify(message) is MessageKind.UNSUPPORTED


def test_from_me_typed_on_the_phone_is_an_agent_message():
    item = guest_text(
        message_id="Ag7nTp3Hn5Qw1R-zX8cV2bN4mL",
        text="Le escribo yo, soy Marta de recepción",
        from_me=True,
        status="sent",
        **{"from": OWN, "from_name": "Marta"},
    )
    batch, message = only_message(delivery(item))

    assert batch.classify(message) is MessageKind.AGENT


def test_echo_of_an_api_send_is_an_echo():
    item = {
        "id": "Ec9hOa1Pi2Se-nD3aB4cD5e",
        "from_me": True,
        "type": "text",
        "chat_id": GUEST_CHAT,
        "timestamp": 1730000200,
        "source": "api",
        "device_id": 11,
        "status": "pending",
        "text": {"body": "Sí, el parking es gratuito."},
        "from": OWN,
    }
    batch, message = only_message(delivery(item))

    assert batch.classify(message) is MessageKind.ECHO
    assert message.from_name == ""


def test_guest_quoting_our_message_is_still_a_guest_text():
    item = guest_text(
        message_id="Qt2uOt3eD4r-pL5yM6nB7v",
        text="¿Y para motos también?",
        context={
            "quoted_id": "Ec9hOa1Pi2Se-nD3aB4cD5e",
            "quoted_author": OWN,
            "quoted_type": "text",
            "quoted_content": {"body": "Sí, el parking es gratuito."},
        },
    )
    batch, message = only_message(delivery(item))

    assert batch.classify(message) is MessageKind.GUEST_TEXT
    assert message.body == "¿Y para motos también?"


def test_group_text_is_a_group_message():
    item = guest_text(
        message_id="Gr1pTx2Ab3Cd-eF4gH5iJ6kL7",
        text="¿Quién trae las toallas?",
        chat_id=GROUP_CHAT,
        chat_name="Excursión sábado",
    )
    batch, message = only_message(delivery(item))

    assert batch.classify(message) is MessageKind.GROUP


def test_unknown_message_type_is_unsupported_not_an_error():
    item = {
        "id": "Fu7uRe8Th9In-gX1yZ2wV3",
        "from_me": False,
        "type": "future_thing",
        "chat_id": GUEST_CHAT,
        "timestamp": 1730000300,
        "future_thing": {"shape": ["unknown", 1, None]},
        "from": GUEST,
    }
    batch, message = only_message(delivery(item))

    assert batch.classify(message) is MessageKind.UNSUPPORTED


def test_unknown_keys_everywhere_are_ignored():
    item = guest_text(
        message_id="Xk1eYs2Ev3Ry-wH4eR5e",
        reactions=[{"emoji": "👍", "count": 2}],
        labels=[],
        sparkle=3.5,
        context={"forwarded": True, "forwarding_score": 1, "weird": [1, 2]},
    )
    item["text"] = {"body": "Llego a las diez", "view_once": False, "novelty": {"x": 1}}
    raw = delivery(
        item,
        presences=[{"contact_id": GUEST, "status": "online", "last_seen": 1730000400, "x": 1}],
        mystery={"nested": [True, None]},
        extra_list=[1, 2, 3],
    )
    batch = parse_webhook(raw)

    assert batch.rejected == 0
    assert [m.body for m in batch.messages] == ["Llego a las diez"]
    assert batch.classify(batch.messages[0]) is MessageKind.GUEST_TEXT
    assert [(p.contact_id, p.status) for p in batch.presences] == [(GUEST, "online")]


def test_middle_message_without_id_is_rejected_alone():
    middle = guest_text(message_id="Mi2dDl3eXx-aA4bB5c")
    del middle["id"]
    raw = delivery(
        guest_text(message_id="Fi1rSt2Aa-bB3cC4dD", text="uno"),
        middle,
        guest_text(message_id="La3sTt4Zz-yY5xX6wW", text="tres"),
    )
    batch = parse_webhook(raw)

    assert [m.id for m in batch.messages] == ["Fi1rSt2Aa-bB3cC4dD", "La3sTt4Zz-yY5xX6wW"]
    assert batch.rejected == 1


def test_middle_message_with_a_numeric_chat_id_is_rejected_alone():
    raw = delivery(
        guest_text(message_id="Fi1rSt2Aa-bB3cC4dD", text="uno"),
        guest_text(message_id="Mi2dDl3eXx-aA4bB5c", chat_id=42),
        guest_text(message_id="La3sTt4Zz-yY5xX6wW", text="tres"),
    )
    batch = parse_webhook(raw)

    assert [m.body for m in batch.messages] == ["uno", "tres"]
    assert batch.rejected == 1


def test_messages_that_is_not_a_list_counts_as_one_rejected_item():
    batch = parse_webhook(body({"messages": guest_text(), "channel_id": "ORCA-Q1"}))

    assert batch.messages == []
    assert batch.rejected == 1


def test_presence_typing_is_read():
    raw = delivery({"contact_id": GUEST, "status": "typing"}, key="presences")
    batch = parse_webhook(raw)

    assert batch.messages == []
    assert batch.rejected == 0
    assert [(p.contact_id, p.status) for p in batch.presences] == [(GUEST, "typing")]


def test_statuses_only_gives_no_messages_and_no_rejects():
    raw = body(payloads.status_update("Ec9hOa1Pi2Se-nD3aB4cD5e", "read", GUEST_CHAT))
    batch = parse_webhook(raw)

    assert batch == WebhookBatch(messages=[], presences=[], rejected=0, event_type="statuses")


def test_empty_object_gives_nothing():
    assert parse_webhook(b"{}") == WebhookBatch(messages=[], presences=[], rejected=0)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"hola, soy un webhook", id="not-json"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b'{"messages": [', id="truncated"),
        pytest.param(b'[{"id": "Kq3vT8mZr2Lx9P-hN4cQ1wYb0s"}]', id="json-array"),
        pytest.param(b'"messages"', id="json-string"),
        pytest.param(b"17", id="json-number"),
        pytest.param(b"null", id="json-null"),
        pytest.param(b"\xff\xfe\x00{}", id="invalid-utf8-outside-strings"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_malformed(raw):
    with pytest.raises(MalformedWebhook):
        parse_webhook(raw)


def test_invalid_utf8_inside_a_string_is_malformed():
    raw = b'{"messages":[{"id":"Kq3vT8\xff\xfeLx9P-hN4cQ1wYb0s","type":"text"}]}'

    with pytest.raises(MalformedWebhook):
        parse_webhook(raw)


def test_deeply_nested_json_is_malformed_not_a_crash():
    depth = 5000
    raw = b'{"messages":' + b"[" * depth + b"]" * depth + b"}"

    try:
        batch = parse_webhook(raw)
    except MalformedWebhook:
        batch = None
    assert batch is None or batch.messages == []


@pytest.mark.parametrize(
    ("chat_id", "expected"),
    [
        (GUEST_CHAT, "contact"),
        (GROUP_CHAT, "group"),
        ("120363999888777666@newsletter", "newsletter"),
        ("status@broadcast", "other"),
        ("34677123456", "other"),
    ],
)
def test_chat_type(chat_id, expected):
    assert chat_type(chat_id) == expected


# --- properties -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


def parses_or_is_malformed(raw: bytes) -> None:
    try:
        result = parse_webhook(raw)
    except MalformedWebhook:
        return
    assert isinstance(result, WebhookBatch)
    assert result.rejected >= 0


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_under_messages_parses_or_is_malformed(value):
    parses_or_is_malformed(json.dumps({"messages": value}).encode())


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_at_top_level_parses_or_is_malformed(value):
    parses_or_is_malformed(json.dumps(value).encode())


message_ids = st.from_regex(r"[A-Za-z0-9._]{4,30}-[A-Za-z0-9._]{4,14}", fullmatch=True)
well_formed_texts = st.lists(
    st.tuples(
        message_ids,
        st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True),
        st.text(min_size=1, max_size=40).filter(str.strip),
    ),
    max_size=8,
    unique_by=lambda t: t[0],
)


@settings(max_examples=100, deadline=None)
@given(well_formed_texts)
def test_well_formed_texts_all_parse_in_order(specs):
    items = [
        guest_text(
            message_id=mid, text=text, chat_id=f"{digits}@s.whatsapp.net", **{"from": digits}
        )
        for mid, digits, text in specs
    ]
    batch = parse_webhook(delivery(*items))

    assert batch.rejected == 0
    assert [m.id for m in batch.messages] == [mid for mid, _, _ in specs]
    assert [m.body for m in batch.messages] == [text for _, _, text in specs]
    assert all(batch.classify(m) is MessageKind.GUEST_TEXT for m in batch.messages)
