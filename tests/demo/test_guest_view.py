"""The chat as the guest's phone shows it: Whapi's typing times, presences, read marks."""

from __future__ import annotations

from conserje.demo.guest_view import TYPING_SHOWN_SECONDS, GuestLog, GuestMessage, guest_view

CHAT = "34600000001@s.whatsapp.net"


def guest(id_: str, at: float, text: str = "hi") -> GuestMessage:
    return GuestMessage(id_, CHAT, True, "text", text, at)


def reply(id_: str, at: float, typing: float, text: str = "ok") -> GuestMessage:
    return GuestMessage(id_, CHAT, False, "text", text, at, typing)


def view(now: float, presences=(), read=()):
    sent = [reply("r1", 10.0, 2), reply("r2", 10.1, 3)]
    return guest_view([guest("g1", 5.0)], sent, presences, read, now)


def test_a_reply_shows_after_its_typing_time_and_the_next_one_queues_behind_it():
    assert [m["id"] for m in view(11.9)["messages"]] == ["g1"]
    assert view(11.9)["typing"] is True
    # r2 was handed to Whapi at 10.1 but waits for r1 (12.0), then types for 3 s.
    assert [m["id"] for m in view(14.9)["messages"]] == ["g1", "r1"]
    assert view(14.9)["typing"] is True
    done = view(15.0)
    assert [(m["id"], m["from"], m["at"]) for m in done["messages"]] == [
        ("g1", "guest", 5.0),
        ("r1", "assistant", 12.0),
        ("r2", "assistant", 15.0),
    ]
    assert done["typing"] is False


def test_a_typing_presence_shows_until_a_message_arrives_or_it_expires():
    assert view(20.0, presences=[(16.0, "typing")])["typing"] is True
    assert view(16.0 + TYPING_SHOWN_SECONDS, presences=[(16.0, "typing")])["typing"] is False
    # Set before the last delivery (15.0): that message ended it.
    assert view(15.5, presences=[(11.0, "typing")])["typing"] is False
    assert view(20.0, presences=[(16.0, "typing"), (17.0, "paused")])["typing"] is False


def test_read_marks_turn_the_guests_ticks_blue():
    assert view(15.0)["messages"][0]["read"] is False
    assert view(15.0, read=["g1"])["messages"][0]["read"] is True


def test_the_guest_log_keeps_each_chat_apart_and_stays_bounded():
    log = GuestLog(capacity=3)
    other = GuestMessage("x", "34600000009@s.whatsapp.net", True, "text", "hey", 1.0)
    log.add(other)
    for n in range(3):
        log.add(guest(f"g{n}", float(n)))
    assert [m.id for m in log.of(CHAT)] == ["g0", "g1", "g2"]
    assert log.of(other.chat) == []  # the oldest went first
