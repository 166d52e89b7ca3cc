"""Drive FakeOpenAI through the real openai SDK with strict response validation."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from openai.types.responses import ResponseFunctionToolCall

from conserje.media.ogg import opus_seconds
from conserje.testing._server import Fault, json_response
from conserje.testing.fake_openai import FakeOpenAI, last_user_text
from conserje.testing.fake_tool_calls import tool_outputs
from conserje.testing.samples import opus_silence, voice_ogg

NOW = 1_795_319_025


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(clock=lambda: NOW + 0.7) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[OpenAI]:
    sdk = OpenAI(
        api_key="test", base_url=fake.base_url, _strict_response_validation=True, max_retries=0
    )
    yield sdk
    sdk.close()


def test_create_returns_a_completed_echo(client: OpenAI) -> None:
    response = client.responses.create(model="gpt-5.5", input="hola")

    assert response.status == "completed"
    assert response.output_text == "echo: hola"
    assert re.fullmatch(r"resp_[0-9a-f]{32}", response.id)
    assert re.fullmatch(r"msg_[0-9a-f]{32}", response.output[0].id)
    assert response.created_at == NOW
    assert response.completed_at == NOW
    assert response.background is False
    assert response.error is None


def test_responses_carry_a_request_id(client: OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="gpt-5.5", input="hola")

    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.parse().output_text == "echo: hola"


def test_echo_uses_the_last_user_message_and_joins_parts(client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-5.5",
        input=[
            {"role": "user", "content": "first"},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "echo: first", "annotations": []}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "second"},
                    {"type": "input_text", "text": "third"},
                ],
            },
        ],
    )

    assert response.output_text == "echo: second | third"


def test_last_user_text_without_a_user_message_is_empty() -> None:
    assert last_user_text([{"type": "function_call_output", "call_id": "c", "output": "{}"}]) == ""
    assert last_user_text(None) == ""


def test_request_fields_are_echoed(client: OpenAI) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
    response = client.responses.create(
        model="gpt-5.5",
        input="hi",
        instructions="be brief",
        metadata={"wa_id": "351900000000"},
        tools=[tool],
        previous_response_id="resp_prev",
    )

    assert response.instructions == "be brief"
    assert response.metadata == {"wa_id": "351900000000"}
    assert response.tools[0].name == "get_weather"
    assert response.previous_response_id == "resp_prev"


def test_background_run_advances_one_step_per_retrieve(client: OpenAI, fake: FakeOpenAI) -> None:
    created = client.responses.create(model="gpt-5.5", input="slow task", background=True)
    assert created.status == "queued"
    assert created.output == []
    assert created.usage is None
    assert fake.running() == [created.id]

    polled = client.responses.retrieve(created.id)
    assert polled.status == "in_progress"
    assert polled.output == []

    done = client.responses.retrieve(created.id)
    assert done.status == "completed"
    assert done.output_text == "echo: slow task"
    assert done.completed_at == NOW
    assert fake.running() == []
    assert client.responses.retrieve(created.id).output_text == "echo: slow task"


def test_hold_keeps_a_run_in_progress_until_release(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.hold = True
    created = client.responses.create(model="gpt-5.5", input="wait", background=True)

    statuses = [client.responses.retrieve(created.id).status for _ in range(4)]
    assert statuses == ["in_progress"] * 4

    fake.release()
    done = client.responses.retrieve(created.id)
    assert done.status == "completed"
    assert done.output_text == "echo: wait"


def test_with_latency_a_run_finishes_on_time_even_unpolled() -> None:
    now = [100.0]
    with FakeOpenAI(clock=lambda: now[0], latency=2.0) as fake:
        sdk = OpenAI(api_key="test", base_url=fake.base_url, _strict_response_validation=True)
        unpolled = sdk.responses.create(model="gpt-5.5", input="lost", background=True)
        polled = sdk.responses.create(model="gpt-5.5", input="kept", background=True)
        now[0] = 101.9
        assert [sdk.responses.retrieve(polled.id).status for _ in range(3)] == ["in_progress"] * 3
        assert sorted(fake.running()) == sorted([unpolled.id, polled.id])

        now[0] = 102.0
        assert fake.running() == []
        assert fake.status_of(unpolled.id) == "completed"
        assert sdk.responses.retrieve(polled.id).output_text == "echo: kept"
        sdk.close()


def test_stall_keeps_runs_queued_until_lifted(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.stall = True
    created = client.responses.create(model="gpt-5.5", input="stuck", background=True)

    assert [client.responses.retrieve(created.id).status for _ in range(4)] == ["queued"] * 4
    fake.stall = False
    assert client.responses.retrieve(created.id).status == "in_progress"


def test_hold_from_the_constructor(client: OpenAI) -> None:
    with FakeOpenAI(hold=True) as held:
        sdk = OpenAI(api_key="test", base_url=held.base_url, _strict_response_validation=True)
        created = sdk.responses.create(model="gpt-5.5", input="x", background=True)
        for _ in range(3):
            sdk.responses.retrieve(created.id)
        assert held.status_of(created.id) == "in_progress"
        sdk.close()


def test_complete_forces_a_held_run(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.hold = True
    created = client.responses.create(model="gpt-5.5", input="now", background=True)

    fake.complete(created.id)

    assert fake.status_of(created.id) == "completed"
    assert client.responses.retrieve(created.id).output_text == "echo: now"
    with pytest.raises(KeyError):
        fake.complete("resp_missing")


def test_cancel_in_progress_then_again(client: OpenAI, fake: FakeOpenAI) -> None:
    created = client.responses.create(model="gpt-5.5", input="stop me", background=True)
    assert client.responses.retrieve(created.id).status == "in_progress"

    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert cancelled.usage is None
    assert cancelled.output == []

    again = client.responses.cancel(created.id)
    assert again.model_dump() == cancelled.model_dump()
    assert client.responses.retrieve(created.id).status == "cancelled"
    assert fake.running() == []


def test_cancel_of_a_completed_run_returns_it_unchanged(client: OpenAI, fake: FakeOpenAI) -> None:
    created = client.responses.create(model="gpt-5.5", input="quick", background=True)
    fake.complete(created.id)
    done = client.responses.retrieve(created.id)

    after = client.responses.cancel(created.id)

    assert after.status == "completed"
    assert after.model_dump() == done.model_dump()


def test_cancel_of_a_non_background_response_is_rejected(client: OpenAI) -> None:
    created = client.responses.create(model="gpt-5.5", input="sync")

    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.cancel(created.id)

    assert raised.value.type == "invalid_request_error"
    assert "background=true" in raised.value.message


def test_unknown_ids_are_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.retrieve("resp_unknown")
    assert "resp_unknown" in raised.value.message
    assert raised.value.request_id is not None

    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_unknown")


@pytest.mark.parametrize(
    ("kwargs", "param"), [({"input": "hi"}, "model"), ({"model": "m"}, "input")]
)
def test_missing_required_parameter(
    client: OpenAI, fake: FakeOpenAI, kwargs: dict, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(**kwargs)

    assert raised.value.param == param
    assert raised.value.code == "missing_required_parameter"
    assert fake.created() == []


def test_background_without_store_is_rejected(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-5.5", input="x", background=True, store=False)
    assert raised.value.param == "store"


def test_unstored_response_cannot_be_retrieved(client: OpenAI, fake: FakeOpenAI) -> None:
    created = client.responses.create(model="gpt-5.5", input="ephemeral", store=False)

    assert created.output_text == "echo: ephemeral"
    assert fake.status_of(created.id) == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_injected_429_is_a_rate_limit_error(client: OpenAI, fake: FakeOpenAI) -> None:
    error = {
        "message": "Rate limit reached",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    fake.inject(
        Fault(
            "POST",
            "/v1/responses",
            response=json_response(429, {"error": error}, {"retry-after-ms": "10"}),
        )
    )

    with pytest.raises(openai.RateLimitError) as raised:
        client.responses.create(model="gpt-5.5", input="hi")

    assert raised.value.code == "rate_limit_exceeded"
    assert fake.created() == []
    assert client.responses.create(model="gpt-5.5", input="hi").status == "completed"


def test_fail_next_run_ends_the_next_background_run_failed(
    client: OpenAI, fake: FakeOpenAI
) -> None:
    fake.fail_next_run("server_error", "boom")
    sync = client.responses.create(model="gpt-5.5", input="sync is unaffected")
    doomed = client.responses.create(model="gpt-5.5", input="a", background=True)
    healthy = client.responses.create(model="gpt-5.5", input="b", background=True)

    assert sync.status == "completed"
    fake.complete(healthy.id)
    client.responses.retrieve(doomed.id)
    failed = client.responses.retrieve(doomed.id)

    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "server_error"
    assert failed.error.message == "boom"
    assert failed.output == []
    assert failed.completed_at is None
    assert client.responses.retrieve(healthy.id).status == "completed"


def test_fail_run_targets_one_response(client: OpenAI, fake: FakeOpenAI) -> None:
    first = client.responses.create(model="gpt-5.5", input="a", background=True)
    second = client.responses.create(model="gpt-5.5", input="b", background=True)

    fake.fail_run(second.id, code="rate_limit_exceeded", message="slow down")
    fake.complete(first.id)
    fake.complete(second.id)

    assert client.responses.retrieve(first.id).status == "completed"
    failed = client.responses.retrieve(second.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "rate_limit_exceeded"


def test_usage_counts_tokens(client: OpenAI) -> None:
    short = client.responses.create(model="gpt-5.5", input="hi")
    long = client.responses.create(model="gpt-5.5", input="hi " * 200, instructions="be brief")

    assert short.usage is not None
    assert long.usage is not None
    assert short.usage.input_tokens > 0
    assert short.usage.output_tokens > 0
    assert short.usage.total_tokens == short.usage.input_tokens + short.usage.output_tokens
    assert short.usage.input_tokens_details.cache_write_tokens == 0
    assert long.usage.input_tokens > short.usage.input_tokens
    assert long.usage.output_tokens > short.usage.output_tokens


def test_usage_hook_overrides_counts(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.usage = lambda body, reply: (1000, 7)

    response = client.responses.create(model="gpt-5.5", input="hi")

    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1000, 7)
    assert response.usage.total_tokens == 1007


def test_custom_reply_callable(client: OpenAI, fake: FakeOpenAI) -> None:
    seen: list[dict] = []

    def reply(body: dict) -> str:
        seen.append(body)
        return f"{body['model']} says hi"

    fake.reply = reply
    response = client.responses.create(model="gpt-5.5", input="x", metadata={"k": "v"})

    assert response.output_text == "gpt-5.5 says hi"
    assert seen == [{"model": "gpt-5.5", "input": "x", "metadata": {"k": "v"}}]


def test_reply_from_the_constructor() -> None:
    with FakeOpenAI(reply=lambda body: "fixed") as custom:
        sdk = OpenAI(api_key="test", base_url=custom.base_url, _strict_response_validation=True)
        assert sdk.responses.create(model="m", input="x").output_text == "fixed"
        sdk.close()


def test_inspection_helpers(client: OpenAI, fake: FakeOpenAI) -> None:
    one = client.responses.create(model="gpt-5.5", input="one", store=True)
    two = client.responses.create(model="gpt-5.5", input="two", background=True)

    assert fake.created() == [
        {"model": "gpt-5.5", "input": "one", "store": True},
        {"model": "gpt-5.5", "input": "two", "background": True},
    ]
    assert fake.response_ids() == [one.id, two.id]
    assert fake.status_of(one.id) == "completed"
    assert fake.status_of(two.id) == "queued"
    assert fake.running() == [two.id]
    fake.created()[0]["input"] = "mutated"
    assert fake.created()[0]["input"] == "one"
    with pytest.raises(KeyError):
        fake.status_of("resp_missing")


def test_unknown_route_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.input_tokens.count(model="gpt-5.5", input="x")


def test_concurrent_creates_get_distinct_ids(fake: FakeOpenAI) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        sdk = OpenAI(api_key="test", base_url=fake.base_url, _strict_response_validation=True)
        try:
            for i in range(5):
                created = sdk.responses.create(model="m", input=f"{n}-{i}", background=True)
                ids.append(created.id)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            sdk.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(ids)) == 40
    assert sorted(fake.response_ids()) == sorted(ids)
    assert len(fake.running()) == 40


# --- function calling ------------------------------------------------------------------

AVAILABILITY = {
    "type": "function",
    "name": "check_availability",
    "description": "Free rooms for some dates",
    "parameters": {
        "type": "object",
        "properties": {"check_in": {"type": "string"}, "nights": {"type": "integer"}},
        "required": ["check_in", "nights"],
        "additionalProperties": False,
    },
    "strict": True,
}


def _output(call_id: str, output: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def test_first_request_with_tools_gets_a_function_call(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.call_tool_on_first_request("check_availability", {"check_in": "2026-12-01", "nights": 3})

    response = client.responses.create(model="gpt-5.5", input="rooms?", tools=[AVAILABILITY])

    assert response.status == "completed"
    assert response.output_text == ""
    [call] = response.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.type == "function_call"
    assert call.name == "check_availability"
    assert json.loads(call.arguments) == {"check_in": "2026-12-01", "nights": 3}
    assert call.status == "completed"
    assert re.fullmatch(r"call_[0-9a-f]{32}", call.call_id)
    assert call.id is not None
    assert re.fullmatch(r"fc_[0-9a-f]{32}", call.id)
    assert response.tools[0].name == "check_availability"


def test_sending_back_the_call_and_its_output_gets_text(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.call_tool_on_first_request("check_availability", {"check_in": "2026-12-01", "nights": 3})
    history: list = [{"role": "user", "content": "rooms?"}]
    first = client.responses.create(model="gpt-5.5", input=history, tools=[AVAILABILITY])
    [call] = first.output
    assert isinstance(call, ResponseFunctionToolCall)

    history += [call.to_dict(), _output(call.call_id, '{"free": 2}')]
    second = client.responses.create(model="gpt-5.5", input=history, tools=[AVAILABILITY])

    assert second.output_text == 'tool results: {"free": 2}'
    assert [item.type for item in second.output] == ["message"]
    sent = fake.created()[1]["input"]
    assert [item.get("type") for item in sent[1:]] == ["function_call", "function_call_output"]
    assert sent[1]["arguments"] == call.arguments


def test_two_parallel_calls_come_back_as_two_items(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.call_tools_on_first_request(
        [
            ("check_availability", {"check_in": "2026-12-01", "nights": 3}),
            ("check_availability", {"check_in": "2026-12-08", "nights": 3}),
        ]
    )
    history: list = [{"role": "user", "content": "first or second week?"}]
    first = client.responses.create(model="gpt-5.5", input=history, tools=[AVAILABILITY])

    calls = [item for item in first.output if isinstance(item, ResponseFunctionToolCall)]
    assert len(calls) == 2
    assert calls[0].call_id != calls[1].call_id
    assert [json.loads(c.arguments)["check_in"] for c in calls] == ["2026-12-01", "2026-12-08"]

    history += [call.to_dict() for call in calls]
    history += [_output(calls[0].call_id, "2 free"), _output(calls[1].call_id, "none")]
    second = client.responses.create(model="gpt-5.5", input=history, tools=[AVAILABILITY])
    assert second.output_text == "tool results: 2 free; none"


def test_a_new_user_message_starts_a_new_tool_turn(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.call_tool_on_first_request("check_availability", {"check_in": "2027-01-01", "nights": 1})
    history: list = [{"role": "user", "content": "rooms?"}]
    [call] = client.responses.create(model="gpt-5.5", input=history).output
    assert isinstance(call, ResponseFunctionToolCall)
    history += [call.to_dict(), _output(call.call_id, "2 free")]
    reply = client.responses.create(model="gpt-5.5", input=history)

    history += [reply.output[0].to_dict(), {"role": "user", "content": "and in February?"}]
    again = client.responses.create(model="gpt-5.5", input=history)

    assert [item.type for item in again.output] == ["function_call"]


def test_tool_calls_from_the_constructor_and_a_custom_reply() -> None:
    def script(body: dict) -> list[tuple[str, dict]]:
        return [("lookup", {"q": "wifi"})] if body["input"] == "wifi" else []

    with FakeOpenAI(tool_calls=script, reply=lambda body: "custom") as custom:
        sdk = OpenAI(api_key="test", base_url=custom.base_url, _strict_response_validation=True)
        [call] = sdk.responses.create(model="m", input="wifi").output
        assert isinstance(call, ResponseFunctionToolCall)
        plain = sdk.responses.create(model="m", input="no tools")
        answered = sdk.responses.create(
            model="m", input=[call.to_dict(), _output(call.call_id, "x")]
        )
        sdk.close()

    assert json.loads(call.arguments) == {"q": "wifi"}
    assert plain.output_text == "custom"
    assert answered.output_text == "custom"
    assert custom.tool_calls is script


def test_a_background_run_ends_with_its_calls(client: OpenAI, fake: FakeOpenAI) -> None:
    fake.call_tool_on_first_request("check_availability", {"check_in": "2026-12-01", "nights": 3})
    created = client.responses.create(model="gpt-5.5", input="rooms?", background=True)
    assert created.output == []

    fake.complete(created.id)
    done = client.responses.retrieve(created.id)

    assert [item.type for item in done.output] == ["function_call"]
    assert done.output_text == ""


def test_outputs_answer_the_calls_of_the_previous_response(
    client: OpenAI, fake: FakeOpenAI
) -> None:
    fake.call_tool_on_first_request("check_availability", {"check_in": "2026-12-01", "nights": 3})
    first = client.responses.create(model="gpt-5.5", input="rooms?", store=True)
    [call] = first.output
    assert isinstance(call, ResponseFunctionToolCall)

    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-5.5", input="again?", previous_response_id=first.id)
    assert raised.value.param == "input"
    assert raised.value.message.endswith(f"No tool output found for function call {call.call_id}.")

    second = client.responses.create(
        model="gpt-5.5", input=[_output(call.call_id, "2 free")], previous_response_id=first.id
    )
    assert second.output_text == "tool results: 2 free"


def test_calls_and_outputs_must_pair_up(client: OpenAI, fake: FakeOpenAI) -> None:
    call = {
        "type": "function_call",
        "call_id": "call_1",
        "name": "check_availability",
        "arguments": "{}",
    }

    with pytest.raises(openai.BadRequestError) as orphan_output:
        client.responses.create(model="gpt-5.5", input=[_output("call_9", "x")])
    with pytest.raises(openai.BadRequestError) as orphan_call:
        client.responses.create(model="gpt-5.5", input=[call])
    with pytest.raises(openai.BadRequestError) as output_first:
        client.responses.create(model="gpt-5.5", input=[_output("call_1", "x"), call])

    assert "No tool call found for function call output with call_id call_9." in str(
        orphan_output.value
    )
    assert "No tool output found for function call call_1." in str(orphan_call.value)
    assert "No tool call found" in str(output_first.value)
    assert fake.created() == []


def test_tool_outputs_of_earlier_turns_do_not_count() -> None:
    earlier = [
        {"role": "user", "content": "a"},
        {"type": "function_call_output", "call_id": "c1", "output": "old"},
    ]

    assert tool_outputs(earlier) == ["old"]
    assert tool_outputs([*earlier, {"role": "user", "content": "b"}]) == []
    assert tool_outputs([_output("c2", [{"type": "input_text", "text": "t"}])]) == [
        '[{"type": "input_text", "text": "t"}]'
    ]
    assert tool_outputs("plain text") == []


def test_transcription_answers_only_for_the_registered_bytes(fake: FakeOpenAI, client: OpenAI):
    fake.audio.add_transcript(voice_ogg(), "hola")
    strict = client.with_options(max_retries=0)

    result = strict.audio.transcriptions.create(
        model="gpt-transcribe", file=("voice.ogg", voice_ogg(), "audio/ogg")
    )
    with pytest.raises(openai.BadRequestError):
        strict.audio.transcriptions.create(
            model="gpt-transcribe", file=("voice.ogg", b"other bytes", "audio/ogg")
        )
    with pytest.raises(openai.BadRequestError):
        strict.audio.transcriptions.create(
            model="gpt-transcribe", file=("voice", voice_ogg(), "audio/ogg")
        )

    assert result.text == "hola"
    first = fake.audio.transcriptions()[0]
    assert (first.model, first.filename, first.content_type, first.data) == (
        "gpt-transcribe",
        "voice.ogg",
        "audio/ogg",
        voice_ogg(),
    )


def test_speech_is_real_ogg_opus_and_is_recorded(fake: FakeOpenAI, client: OpenAI):
    audio = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="marin", input="Hola, te esperamos.", response_format="opus"
    )

    assert opus_seconds(audio.content) is not None
    (speech,) = fake.audio.speeches()
    assert (speech.voice, speech.input) == ("marin", "Hola, te esperamos.")


def test_input_parts_reads_back_the_images_sent(fake: FakeOpenAI, client: OpenAI):
    image = {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA", "detail": "auto"}
    client.responses.create(
        model="m",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "mira"}, image]}],
    )

    assert fake.input_parts("input_image") == [image]
    assert fake.input_parts("input_file") == []


def test_a_default_transcript_covers_any_real_voice_note_but_not_junk(
    fake: FakeOpenAI, client: OpenAI
):
    fake.audio.default_transcript = "quisiera reservar"
    strict = client.with_options(max_retries=0)

    result = strict.audio.transcriptions.create(
        model="gpt-transcribe", file=("voice.ogg", opus_silence(2.0), "audio/ogg")
    )
    with pytest.raises(openai.BadRequestError):
        strict.audio.transcriptions.create(
            model="gpt-transcribe", file=("voice.ogg", b"junk", "audio/ogg")
        )

    assert result.text == "quisiera reservar"
