"""The example tool, tested the way a business would test its own.

Plain calls for the rules; then the real server, with the tool loaded from its entry
point, talking to the fake model and fake WhatsApp from ``conserje.testing``.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conserje_availability import AvailabilityQuery, check_availability

from conserje.assistant.tools import ToolRegistry
from conserje.testing import payloads
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess
from conserje.testing.wait import wait_for

GUEST = "34600111222@s.whatsapp.net"


def ask(check_in: str, check_out: str, guests: int = 2):
    query = AvailabilityQuery(
        dt.date.fromisoformat(check_in), dt.date.fromisoformat(check_out), guests
    )
    return check_availability.func(query)


def test_booked_apartments_are_left_out_and_prices_cover_the_stay():
    answer = ask("2027-03-10", "2027-03-12")
    assert [(o.apartment, o.nights, o.total_eur) for o in answer.available] == [
        ("Garden House", 2, 380)
    ]


def test_a_booking_ending_on_arrival_day_leaves_the_apartment_free():
    answer = ask("2027-03-12", "2027-03-14")
    assert [o.apartment for o in answer.available] == ["Sea View Studio", "Garden House"]


def test_apartments_too_small_for_the_party_are_left_out():
    answer = ask("2027-05-01", "2027-05-03", guests=5)
    assert [o.apartment for o in answer.available] == ["Garden House"]
    assert ask("2027-05-01", "2027-05-03", guests=7).note == "Nothing is free then."


def test_dates_in_the_wrong_order_come_back_as_an_error_the_model_reads():
    assert ask("2027-05-03", "2027-05-01") == {
        "error": {
            "type": "invalid_dates",
            "message": "check_out must be at least one day after check_in",
        }
    }


def test_another_csv_can_be_named(tmp_path, monkeypatch):
    csv = tmp_path / "mine.csv"
    csv.write_text(
        "apartment,sleeps,nightly_eur,booked_from,booked_to\nCabin,3,50,,\n", encoding="utf-8"
    )
    monkeypatch.setenv("AVAILABILITY_CSV", str(csv))
    assert [(o.apartment, o.total_eur) for o in ask("2027-01-01", "2027-01-04").available] == [
        ("Cabin", 150)
    ]


def test_a_malformed_csv_names_its_line(tmp_path, monkeypatch):
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "apartment,sleeps,nightly_eur,booked_from,booked_to\nCabin,three,50,,\n", encoding="utf-8"
    )
    monkeypatch.setenv("AVAILABILITY_CSV", str(csv))
    with ToolRegistry([check_availability]) as registry:
        outcome = registry.execute(
            "check_availability", '{"check_in": "2027-01-01", "check_out": "2027-01-02"}'
        )
    assert not outcome.ok
    assert "line 2" in json.loads(outcome.output)["error"]["message"]


def test_the_installed_package_offers_the_tool_through_its_entry_point():
    with ToolRegistry() as registry:
        assert registry.load_entry_points() == []
        assert "check_availability" in registry.names()
        # What the model is told: strict arguments, dates as dates.
        parameters = registry.get("check_availability").schema()["parameters"]
        assert parameters["properties"]["check_in"] == {
            "description": "Arrival day, YYYY-MM-DD.",
            "type": "string",
            "format": "date",
        }


@pytest.mark.e2e
def test_the_server_calls_the_tool_and_the_guest_reads_its_answer(tmp_path):
    with FakeOpenAI() as model, FakeWhapi(token="example-token") as whapi:
        model.call_tool_on_first_request(
            "check_availability", {"check_in": "2027-03-10", "check_out": "2027-03-12", "guests": 2}
        )
        server = ServerProcess(
            tmp_path / "data",
            {
                "OPENAI_API_KEY": "sk-test",
                "OPENAI_BASE_URL": model.base_url,
                "WHAPI_TOKEN": "example-token",
                "WHAPI_API_URL": whapi.url,
                "BUFFER_WINDOW_MS": "200",
            },
        )
        whapi.webhook_url = f"{server.url}/hook"
        with server.start():
            assert whapi.post_webhook(payloads.text_message(GUEST, "Free 10-12 March?")) == 200
            wait_for(lambda: whapi.sent_to(GUEST), timeout=20, what="a reply to the guest")
            # The fake model's default reply repeats the tool's output it was given.
            reply = whapi.sent_to(GUEST)[0].body
            assert reply.startswith("tool results: ")
            assert '"apartment":"Garden House"' in reply
            assert '"total_eur":380' in reply
