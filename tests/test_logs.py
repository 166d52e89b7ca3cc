"""Masking personal data and secrets in logs."""

from __future__ import annotations

import io
import logging

import pytest

from conserje.logs import MaskingFilter, mask


def test_a_chat_id_keeps_a_prefix_and_the_last_two_digits():
    masked = mask("turn started for 34699887766@s.whatsapp.net (3 messages)")

    assert masked == "turn started for 346****66@s.whatsapp.net (3 messages)"
    assert "99887" not in masked


def test_an_international_number_is_masked():
    masked = mask("guest +34611223344 wrote")

    assert "611223344" not in masked
    assert masked.startswith("guest +34")
    assert masked.endswith("44 wrote")


def test_a_bare_number_in_json_is_masked():
    masked = mask('{"from": "4915123456789", "type": "text"}')

    assert "5123456" not in masked
    assert '"type": "text"' in masked


def test_bearer_tokens_are_hidden():
    masked = mask("headers: Authorization: Bearer Wh4p1-Secr3t.T0ken_value sent")

    assert "Wh4p1" not in masked
    assert "Secr3t" not in masked
    assert "Bearer ****" in masked
    assert masked.endswith(" sent")


def test_openai_keys_are_hidden():
    masked = mask("using key sk-proj-Qw3rTy9UiOp0AsDfGhJkL in request")

    assert "Qw3rTy9UiOp0AsDfGhJkL" not in masked
    assert masked.startswith("using key sk-")
    assert masked.endswith(" in request")


@pytest.mark.parametrize(
    "text",
    [
        "seq 12 version 7",
        "appended at ts=1712995245.5",
        "took 1.25 s",
        "chunk 3 of 6, 1024 bytes",
        "group 120363555000111222@g.us",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert mask(text) == text


def test_masking_filter_masks_the_formatted_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("conserje.tests.masking")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info(
            "sent %d chunks to %s with %s", 2, "34699887766@s.whatsapp.net", "Bearer abc.DEF-123"
        )
    finally:
        logger.removeHandler(handler)

    assert stream.getvalue() == "INFO sent 2 chunks to 346****66@s.whatsapp.net with Bearer ****\n"


def test_masking_filter_on_a_bare_record():
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "guest %s said %r", ("+34611223344", "hola"), None
    )

    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "guest +346****44 said 'hola'"
