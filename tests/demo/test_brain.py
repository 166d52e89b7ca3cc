"""The demo's scripted model: what it answers, and which tools it calls, for what."""

from __future__ import annotations

import datetime as dt
import json

import openai
import pytest

from conserje.assistant.context import build_input, context_line
from conserje.demo.brain import AVAILABILITY_TOOL, ESCALATE_TOOL, DemoBrain
from conserje.eventlog.projection import HistoryItem
from conserje.testing.fake_openai import FakeOpenAI

NOW = dt.datetime(2027, 3, 1, 10, 0, tzinfo=dt.UTC).timestamp()
TOOLS = [{"type": "function", "name": n} for n in (ESCALATE_TOOL, AVAILABILITY_TOOL)]


def request(*texts: str, tools=TOOLS, extra=()) -> dict:
    """A request body as the server builds it for a turn."""
    items = build_input([], list(texts), context_line(NOW, "UTC", "Ana"))
    return {"model": "m", "input": [*items, *extra], "tools": tools}


def answered(body: dict, name: str, output: dict) -> dict:
    call = {"type": "function_call", "call_id": "c1", "name": name, "arguments": "{}"}
    result = {"type": "function_call_output", "call_id": "c1", "output": json.dumps(output)}
    return {**body, "input": [*body["input"], call, result]}


brain = DemoBrain()


def test_a_greeting_gets_several_chunks_and_says_it_is_a_demo():
    body = request("Hello there")
    assert brain.tool_calls(body) == []
    chunks = brain.reply(body).split("\n\n")
    assert len(chunks) >= 3
    assert chunks[0].startswith("Hello!")
    assert "not a real model" in brain.reply(body)


def test_a_simple_question_gets_its_answer():
    reply = brain.reply(request("what is the wifi password?"))
    assert "CasaDemo" in reply


def test_dates_call_the_availability_tool_with_them():
    body = request("Is anything free from 2027-03-10 to 2027-03-12 for 4 people?")
    assert brain.tool_calls(body) == [
        (AVAILABILITY_TOOL, {"check_in": "2027-03-10", "check_out": "2027-03-12", "guests": 4})
    ]


def test_availability_without_dates_asks_from_tomorrow_by_the_context_line():
    ((name, args),) = brain.tool_calls(request("Do you have availability?"))
    assert name == AVAILABILITY_TOOL
    assert (args["check_in"], args["check_out"], args["guests"]) == ("2027-03-02", "2027-03-04", 2)


def test_the_tool_result_is_read_back_to_the_guest():
    result = {
        "check_in": "2027-03-10",
        "check_out": "2027-03-12",
        "guests": 2,
        "available": [{"apartment": "Garden House", "sleeps": 6, "nights": 2, "total_eur": 380}],
        "note": "",
    }
    body = answered(request("free 2027-03-10 to 2027-03-12?"), AVAILABILITY_TOOL, result)
    assert brain.tool_calls(body) == []
    reply = brain.reply(body)
    assert "Garden House (sleeps 6): 380 € for 2 nights" in reply
    assert len(reply.split("\n\n")) == 3


def test_a_tool_error_is_told_not_hidden():
    error = {"error": {"type": "invalid_dates", "message": "check_out must be after check_in"}}
    body = answered(request("free 2027-03-12 to 2027-03-10?"), AVAILABILITY_TOOL, error)
    assert brain.reply(body) == "I could not check that: check_out must be after check_in"


def test_asking_for_a_person_escalates_with_the_guests_words():
    ((name, args),) = brain.tool_calls(request("Can I talk to a person please?"))
    assert name == ESCALATE_TOOL
    assert args["summary"] == 'The guest wrote: "Can I talk to a person please?"'
    assert args["urgency"] == "normal"
    handed = answered(request("Can I talk to a person please?"), ESCALATE_TOOL, {"ok": True})
    assert "a person from the team" in brain.reply(handed)


def test_yes_to_the_offer_to_book_hands_the_chat_to_a_person():
    offer = "I checked the calendar...\n\nShall I ask the team to book one for you?"
    history = [
        HistoryItem("user", "free 2027-03-10 to 2027-03-12?"),
        HistoryItem("assistant", offer),
    ]
    items = build_input(history, ["Yes please"], context_line(NOW, "UTC", "Ana"))
    body = {"model": "m", "input": items, "tools": TOOLS}
    ((name, args),) = brain.tool_calls(body)
    assert name == ESCALATE_TOOL
    assert args["reason"] == "The guest wants to book an apartment."
    # Without that offer just before, "yes" is not a request for anything.
    assert brain.tool_calls(request("Yes please")) == []


def test_people_in_a_party_are_guests_not_a_request_for_a_person():
    ((name, _),) = brain.tool_calls(request("Free from 2027-04-01 to 2027-04-03 for 3 people?"))
    assert name == AVAILABILITY_TOOL


def test_without_the_tool_installed_it_says_so_instead_of_calling_it():
    body = request("Any availability in May?", tools=TOOLS[:1])
    assert brain.tool_calls(body) == []
    assert "not installed" in brain.reply(body)


def test_an_earlier_turns_tool_output_does_not_answer_a_new_message():
    earlier = answered(request("free 2027-03-10 to 2027-03-12?"), AVAILABILITY_TOOL, {})
    later = {**earlier, "input": [*earlier["input"], {"role": "user", "content": "hello"}]}
    assert brain.reply(later).startswith("Hello!")


def test_a_photo_is_acknowledged():
    photo = {
        "role": "user",
        "content": [{"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA"}],
    }
    assert "photo" in brain.reply(request(extra=[photo]))


def test_anything_else_gets_an_honest_fallback_with_things_to_try():
    reply = brain.reply(request("qwerty"))
    assert "demo script" in reply
    assert "Try:" in reply


@pytest.mark.parametrize("text", ["hello", "free from 2027-03-10 to 2027-03-12?"])
def test_the_same_request_always_gets_the_same_answer(text):
    body = request(text)
    assert [DemoBrain().reply(body) for _ in range(3)] == [brain.reply(body)] * 3
    assert [DemoBrain().tool_calls(body) for _ in range(3)] == [brain.tool_calls(body)] * 3


def test_it_drives_the_fake_openai_through_the_real_sdk():
    with FakeOpenAI(reply=brain.reply, tool_calls=brain.tool_calls) as fake:
        client = openai.OpenAI(api_key="sk-test", base_url=fake.base_url)
        body = request("Can I speak to a human?")
        first = client.responses.create(model="m", input=body["input"], tools=TOOLS_SCHEMA)
        (call,) = [item for item in first.output if item.type == "function_call"]
        assert call.name == ESCALATE_TOOL
        follow = [
            *body["input"],
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"ok": true}'},
        ]
        second = client.responses.create(model="m", input=follow, tools=TOOLS_SCHEMA)
        assert "a person from the team" in second.output_text


TOOLS_SCHEMA = [
    {
        "type": "function",
        "name": name,
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        "strict": True,
    }
    for name in (ESCALATE_TOOL, AVAILABILITY_TOOL)
]
