"""What may be spoken: nothing the guest must read exactly."""

from __future__ import annotations

import pytest

from conserje.media.speech import SPEAKABLE_CHARS, unspeakable


@pytest.mark.parametrize(
    "reply",
    [
        "¡Claro! Tenemos sitio el viernes para dos personas.",
        "Llegáis el 3 de mayo y os vais el 5, perfecto.",
        "El check-in es a partir de las tres de la tarde.",
        "Nos vemos en 2026, ¡buen viaje!",
    ],
)
def test_plain_replies_may_be_spoken(reply):
    assert unspeakable(reply) is None


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("La doble cuesta 95 € la noche.", "a price"),
        ("Son 120 euros en total.", "a price"),
        ("Total: $85", "a price"),
        ("Reserva aquí: https://example.org/reservar", "a link"),
        ("Mira www.example.org", "a link"),
        ("Escríbenos a reservas@example.org", "an email address"),
        ("Llama al +34 600 111 222", "a phone number"),
        ("El importe es 12,50", "an amount"),
        ("Hay un 10 % de descuento", "an amount"),
        ("Tu código de reserva es AB12CD", "a code"),
        ("La clave de la puerta es 4821", "a long number"),
    ],
)
def test_replies_with_things_to_read_go_as_text(reply, why):
    assert unspeakable(reply) == f"it names {why}"


def test_a_long_reply_goes_as_text():
    assert "longer than" in unspeakable("a" * (SPEAKABLE_CHARS + 1))
