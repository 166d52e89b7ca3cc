"""What the model is given, and how its reply becomes WhatsApp messages."""

from __future__ import annotations

import pytest

from conserje.assistant.context import build_input, context_line
from conserje.assistant.shaping import MAX_CHUNKS, split_reply, typing_time, worth_sending
from conserje.eventlog.projection import HistoryItem

# --- split_reply ----------------------------------------------------------------------


def test_paragraphs_separated_by_blank_lines_become_chunks():
    reply = (
        "Buenas tardes.\n\n"
        "El check-in es a las 15:00.\n   \n"
        "El parking está detrás.\n\t\n"
        "¡Hasta pronto!"
    )

    assert split_reply(reply) == [
        "Buenas tardes.",
        "El check-in es a las 15:00.",
        "El parking está detrás.",
        "¡Hasta pronto!",
    ]


def test_single_newlines_stay_inside_a_chunk():
    reply = "Horarios:\n- desayuno 8-11\n- cena 20-23\n\nCualquier duda, aquí estoy."

    assert split_reply(reply) == [
        "Horarios:\n- desayuno 8-11\n- cena 20-23",
        "Cualquier duda, aquí estoy.",
    ]


def test_a_single_paragraph_is_one_chunk_trimmed():
    assert split_reply("  Sí, quedan habitaciones dobles.\n") == ["Sí, quedan habitaciones dobles."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n \n\t\n"])
def test_empty_text_gives_no_chunks(text):
    assert split_reply(text) == []


def test_more_than_max_chunks_paragraphs_lose_nothing():
    paragraphs = [f"Párrafo número {n}." for n in range(MAX_CHUNKS + 3)]

    chunks = split_reply("\n\n".join(paragraphs))

    assert len(chunks) == MAX_CHUNKS
    assert chunks[: MAX_CHUNKS - 1] == paragraphs[: MAX_CHUNKS - 1]
    joined = "\n".join(chunks)
    positions = [joined.index(p) for p in paragraphs]
    assert positions == sorted(positions)


def test_exactly_max_chunks_paragraphs_are_kept_apart():
    paragraphs = [f"P{n}" for n in range(MAX_CHUNKS)]

    assert split_reply("\n\n".join(paragraphs)) == paragraphs


# --- worth_sending --------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["", "   ", "\n\t \n"])
def test_empty_reply_is_not_worth_sending(reply):
    assert not worth_sending(reply, ["¿Hay wifi?"])


def test_reply_echoing_the_guest_is_not_worth_sending():
    assert not worth_sending("  hay WIFI   en\nla habitación? ", ["Hay wifi", "en la habitación?"])


def test_a_normal_reply_is_worth_sending():
    assert worth_sending("Sí, la clave está en la tarjeta.", ["¿Hay wifi?"])


def test_a_reply_that_only_contains_the_guest_words_is_still_sent():
    assert worth_sending("Hola, ¿qué tal? ¿En qué puedo ayudarte?", ["Hola"])


# --- context_line and build_input -----------------------------------------------------


@pytest.mark.parametrize(
    ("now", "day", "date", "hour"),
    [
        # 2024-07-01 23:30 UTC is already Tuesday 01:30 in Madrid (summer time, +2).
        (1_719_876_600.0, "Tuesday", "2024-07-02", "01:30"),
        # 2024-01-15 23:30 UTC is Tuesday 00:30 in Madrid (winter time, +1).
        (1_705_361_400.0, "Tuesday", "2024-01-16", "00:30"),
    ],
)
def test_context_line_gives_the_local_date_and_hour(now, day, date, hour):
    line = context_line(now, "Europe/Madrid", "Lucía Ferrer")

    assert f"{day} {date} {hour}" in line
    assert "Europe/Madrid" in line
    assert "Lucía Ferrer" in line


def test_context_line_without_a_name_says_the_guest_is_unnamed():
    line = context_line(1_719_876_600.0, "UTC", "")

    assert "2024-07-01 23:30" in line
    assert "unnamed" in line
    assert "name is" not in line


def test_build_input_puts_history_then_context_then_one_user_message():
    history = [
        HistoryItem("user", "¿Hay piscina?"),
        HistoryItem("assistant", "Sí, climatizada."),
    ]

    items = build_input(history, ["¿Y horario?", "Vamos con niños"], "CONTEXT-LINE")

    assert items == [
        {"role": "user", "content": "¿Hay piscina?"},
        {"role": "assistant", "content": "Sí, climatizada."},
        {"role": "developer", "content": "CONTEXT-LINE"},
        {"role": "user", "content": "¿Y horario?\nVamos con niños"},
    ]


def test_build_input_without_history():
    items = build_input([], ["Hola"], "ctx")

    assert items == [
        {"role": "developer", "content": "ctx"},
        {"role": "user", "content": "Hola"},
    ]


def test_typing_time_grows_with_the_chunk_within_bounds():
    assert typing_time("ok") == 1
    assert typing_time("x" * 75) == 3
    assert typing_time("x" * 5000) == 4


def test_a_quoted_message_is_named_in_the_context_line_not_as_new_words():
    items = build_input([], ["Sí, esa"], "Now it is Monday.", quoted="¿Os va bien el ático?")
    assert items[-2]["role"] == "developer"
    assert "¿Os va bien el ático?" in items[-2]["content"]
    assert items[-1] == {"role": "user", "content": "Sí, esa"}
