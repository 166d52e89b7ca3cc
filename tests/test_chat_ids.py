"""What a chat id is: every form WhatsApp uses is taken, anything else refused with a hint."""

from __future__ import annotations

import re

import pytest

from conserje.chat_ids import BadChatId, chat_id, chat_or_number

FULL_IDS = [
    "34600111222@s.whatsapp.net",
    "34600111222@c.us",
    "120363000000000001@g.us",
    "34600111222-1600000000@g.us",
    "123456789012345@lid",
    "120363123456789012@newsletter",
]
NUMBERS = ["34600111222", "+34600111222", "34999", "34600111222-1600000000"]
NOT_CHATS = [
    "",
    "foo",
    " ",
    "..",
    "\x00",
    "34600111222@s.whatsapp.ne",
    "34600111222@example.com",
    "+34600111222@s.whatsapp.net",
    "34600111222@",
    "@s.whatsapp.net",
    "3460011 1222@s.whatsapp.net",
    "34600111222@s.whatsapp.net\n",
    "34600111222@s.whatsapp.net/x",
    "1--2@g.us",
    "-1@g.us",
    "١٢٣@s.whatsapp.net",  # Arabic-Indic digits are digits to Python, not to WhatsApp
    "9" * 21 + "@s.whatsapp.net",
    "a" * 20_000,
]


@pytest.mark.parametrize("text", FULL_IDS)
def test_every_form_of_full_chat_id_is_taken_as_it_is(text):
    assert chat_id(text) == text
    assert chat_or_number(text) == text


@pytest.mark.parametrize("text", NUMBERS)
def test_readers_take_the_number_alone(text):
    assert chat_or_number(text) == text


@pytest.mark.parametrize("text", NOT_CHATS)
def test_anything_else_is_refused_with_what_a_chat_id_looks_like(text):
    with pytest.raises(BadChatId, match=re.escape("34600111222@s.whatsapp.net")):
        chat_id(text)
    with pytest.raises(BadChatId, match="phone digits"):
        chat_or_number(text)


@pytest.mark.parametrize("text", ["34600111222", "+34600111222"])
def test_a_phone_number_is_not_a_full_chat_id_and_the_error_names_the_full_one(text):
    hint = "the chat of a person is 34600111222@s.whatsapp.net"
    with pytest.raises(BadChatId, match=re.escape(hint)):
        chat_id(text)


def test_a_long_refused_text_is_quoted_only_in_part():
    with pytest.raises(BadChatId) as refused:
        chat_id("a" * 20_000)

    assert len(str(refused.value)) < 200
