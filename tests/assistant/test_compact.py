"""Server compaction through the real SDK: ``POST /responses/compact`` where the server has it."""

from __future__ import annotations

import openai
import pytest

from conserje.actors.clock import ManualClock
from conserje.assistant.responses import ResponsesModel
from conserje.errors import ModelError
from conserje.testing._server import Fault, json_response
from conserje.testing.fake_compaction import compacted_texts
from conserje.testing.fake_openai import FakeOpenAI

HISTORY = [
    {"role": "user", "content": "Somos cuatro adultos"},
    {"role": "assistant", "content": "Perfecto, ¿qué fechas?"},
    {"role": "user", "content": "Del 3 al 7 de mayo"},
]


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def model(fake):
    client = openai.OpenAI(api_key="k", base_url=fake.base_url, _strict_response_validation=True)
    return ResponsesModel(
        client, model="m", instructions="", background=True, clock=ManualClock(), run_timeout=60
    )


def test_the_server_keeps_the_guests_words_and_seals_the_rest(fake, model):
    items = model.compact(HISTORY)

    assert items is not None
    assert [i.get("role") for i in items[:-1]] == ["user", "user"]
    assert items[-1]["type"] == "compaction"
    assert compacted_texts(items) == [h["content"] for h in HISTORY]
    assert [body["input"] for body in fake.compactions()] == [HISTORY]


def test_a_server_without_the_endpoint_is_asked_once(fake, model):
    fake.compacts = False

    assert model.compact(HISTORY) is None
    assert model.compact(HISTORY) is None
    assert len(fake.requests("POST", "/v1/responses/compact")) == 1


@pytest.mark.parametrize(
    ("answer", "tries"),
    [
        # The SDK retries a 5xx twice on its own before giving up.
        (json_response(500, {"error": {"message": "boom", "type": "server_error"}}), 3),
        (json_response(200, {"id": "resp_1", "object": "response.compaction", "output": []}), 1),
        (json_response(200, ["not", "a", "response"]), 1),
    ],
    ids=["server-error", "no-compaction-item", "not-an-object"],
)
def test_a_failed_compaction_is_a_model_error_and_the_server_is_asked_again(
    fake, model, answer, tries
):
    fake.inject(Fault("POST", "/v1/responses/compact", response=answer, times=tries))

    with pytest.raises(ModelError, match="compact failed"):
        model.compact(HISTORY)
    assert model.compact(HISTORY) is not None
