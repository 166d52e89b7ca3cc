"""Tool declaration, strict schemas, plugins and the safe execution of tool calls."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import pydantic
import pytest
from openai.types.responses import FunctionToolParam

from conserje.assistant.builtin_tools import EscalateArgs
from conserje.assistant.tools import Tool, ToolRegistry, tool
from tests.installed_tools import installed_tool_names


class Guest(msgspec.Struct):
    name: str
    age: int | None = None


class Booking(msgspec.Struct):
    """Dates and guests of a stay."""

    check_in: str
    nights: int
    note: str | None = None
    board: Literal["room_only", "breakfast"] = "room_only"
    tags: list[str] = []
    lead: Guest | None = None
    others: list[Guest] = []
    rooms: int = 1


class Node(msgspec.Struct):
    value: int
    next: Node | None = None


class Loose(msgspec.Struct):
    extras: dict[str, str]


class Positional(msgspec.Struct, array_like=True):
    check_in: str


class Quote(msgspec.Struct):
    total: int
    currency: str


def quote(args: Booking) -> Quote:
    return Quote(total=100 * args.nights * args.rooms, currency="EUR")


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every subschema, for checks that must hold everywhere."""
    if isinstance(schema, dict):
        yield schema
        for sub in [*schema.get("properties", {}).values(), *schema.get("anyOf", [])]:
            yield from _nodes(sub)
        yield from _nodes(schema.get("items"))


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry([Tool("quote", "Price a stay.", quote, Booking)]) as tools:
        yield tools


# --- schemas ---------------------------------------------------------------------------


def test_schema_is_a_strict_self_contained_function_tool():
    schema = Tool("quote", "Price a stay.", quote, Booking).schema()

    assert schema["type"] == "function"
    assert schema["name"] == "quote"
    assert schema["description"] == "Price a stay."
    assert schema["strict"] is True
    params = schema["parameters"]
    assert "$ref" not in json.dumps(params)
    assert "$defs" not in json.dumps(params)
    objects = [node for node in _nodes(params) if node.get("type") == "object"]
    assert len(objects) == 3  # Booking, and Guest inlined twice
    for node in objects:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    for node in _nodes(params):
        assert {"type", "anyOf"} & node.keys(), node


def test_fields_with_defaults_accept_null_and_required_ones_do_not():
    props = Tool("quote", "Price a stay.", quote, Booking).schema()["parameters"]["properties"]

    assert props["check_in"] == {"type": "string"}
    assert props["nights"] == {"type": "integer"}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["board"] == {
        "anyOf": [{"enum": ["breakfast", "room_only"], "type": "string"}, {"type": "null"}],
        "default": "room_only",
    }
    assert props["tags"]["anyOf"] == [
        {"type": "array", "items": {"type": "string"}},
        {"type": "null"},
    ]
    assert props["rooms"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 1}
    lead = props["lead"]["anyOf"][0]
    assert lead["properties"]["age"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert lead["required"] == ["name", "age"]


def test_schema_is_accepted_as_the_sdk_function_tool_param():
    schema = Tool("quote", "Price a stay.", quote, Booking).schema()

    assert FunctionToolParam.__required_keys__ <= schema.keys()
    assert schema.keys() <= FunctionToolParam.__annotations__.keys()
    assert pydantic.TypeAdapter(FunctionToolParam).validate_python(schema) == schema


def test_schema_is_a_fresh_copy():
    declared = Tool("quote", "Price a stay.", quote, Booking)

    declared.schema()["parameters"]["properties"].clear()

    assert "nights" in declared.schema()["parameters"]["properties"]


@pytest.mark.parametrize(
    ("args_type", "words"),
    [(Node, "refers to itself"), (Loose, "free-form"), (Positional, "not an array")],
)
def test_structs_strict_mode_cannot_describe_fail_at_declaration(args_type, words):
    with pytest.raises(TypeError, match=words):
        Tool("t", "d", lambda args: "", args_type)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "has space"}, ValueError),
        ({"name": "x" * 65}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"args_type": dict}, TypeError),
    ],
)
def test_bad_declarations_are_refused(kwargs, error):
    fields = {"name": "ok", "description": "d", "func": quote, "args_type": Booking, **kwargs}

    with pytest.raises(error):
        Tool(**fields)


def test_escalate_args_schema():
    declared = Tool("escalate_to_human", "Call staff.", lambda args: "ok", EscalateArgs)
    params = declared.schema()["parameters"]

    assert params["required"] == ["reason", "summary", "urgency"]
    assert params["properties"]["urgency"]["anyOf"][0]["enum"] == ["high", "low", "normal"]
    args = declared.parse_arguments('{"reason": "refund", "summary": "s", "urgency": null}')
    assert args == EscalateArgs(reason="refund", summary="s", urgency="normal")


# --- arguments -------------------------------------------------------------------------


def test_null_means_the_default_unless_the_type_takes_none():
    declared = Tool("quote", "Price a stay.", quote, Booking)
    sent = {
        "check_in": "2026-12-01",
        "nights": 2,
        "note": None,
        "board": None,
        "tags": None,
        "lead": {"name": "Ana", "age": None},
        "others": [{"name": "Rui", "age": 7}],
        "rooms": None,
    }

    args = declared.parse_arguments(json.dumps(sent))

    assert args == Booking(
        check_in="2026-12-01",
        nights=2,
        lead=Guest(name="Ana"),
        others=[Guest(name="Rui", age=7)],
    )


# --- the decorator ---------------------------------------------------------------------


def test_decorator_builds_a_tool_from_the_function():
    @tool(description="Price a stay.", timeout=3.0, interim_message="Un momento...")
    def price(args: Booking) -> Quote:
        return quote(args)

    assert isinstance(price, Tool)
    assert price.name == "price"
    assert price.args_type is Booking
    assert price.timeout == 3.0
    assert price.interim_message == "Un momento..."
    assert price.func(Booking(check_in="x", nights=1)) == Quote(total=100, currency="EUR")


def test_decorator_defaults():
    declared = tool(description="d")(quote)

    assert (declared.timeout, declared.interim_message) == (10.0, None)


def test_decorator_needs_one_annotated_parameter():
    def two(a: Booking, b: Booking) -> str:
        return ""

    def bare(a) -> str:
        return ""

    with pytest.raises(TypeError, match="exactly one"):
        tool(description="d")(two)
    with pytest.raises(TypeError, match="annotate"):
        tool(description="d")(bare)


# --- the registry ----------------------------------------------------------------------


def test_registry_lists_tools_and_refuses_duplicates(registry: ToolRegistry):
    registry.register(Tool("escalate_to_human", "Call staff.", lambda args: "ok", EscalateArgs))

    assert registry.names() == ["quote", "escalate_to_human"]
    assert [schema["name"] for schema in registry.schemas()] == registry.names()
    assert registry.get("quote") is not None
    assert registry.get("missing") is None
    with pytest.raises(ValueError, match="quote"):
        registry.register(Tool("quote", "again", quote, Booking))
    with pytest.raises(ValueError, match="twin"):
        ToolRegistry([Tool("twin", "d", quote, Booking), Tool("twin", "d", quote, Booking)])


def _error(outcome_output: str) -> dict[str, str]:
    return json.loads(outcome_output)["error"]


@pytest.mark.parametrize(
    ("result", "output"),
    [
        (Quote(total=5, currency="EUR"), '{"total":5,"currency":"EUR"}'),
        ({"free": ["101", "102"]}, '{"free":["101","102"]}'),
        ("no rooms left", "no rooms left"),
    ],
)
def test_execute_returns_the_result_as_json(result, output):
    with ToolRegistry([Tool("t", "d", lambda args: result, Guest)]) as tools:
        outcome = tools.execute("t", '{"name": "Ana"}')

    assert outcome.ok
    assert outcome.output == output
    assert outcome.error == ""
    assert outcome.duration >= 0


def test_execute_passes_decoded_arguments(registry: ToolRegistry):
    outcome = registry.execute("quote", '{"check_in": "2026-12-01", "nights": 3, "rooms": 2}')

    assert json.loads(outcome.output) == {"total": 600, "currency": "EUR"}


def test_unknown_tool(registry: ToolRegistry):
    outcome = registry.execute("book_flight", "{}")

    assert not outcome.ok
    assert outcome.error == "unknown_tool"
    assert _error(outcome.output) == {
        "type": "unknown_tool",
        "message": "There is no tool called 'book_flight'.",
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"check_in": "2026-12-01", "nights": ', "truncated"),
        ("", "truncated"),
        (
            '{"check_in": "2026-12-01", "nights": "three"}',
            "Expected `int`, got `str` - at `$.nights`",
        ),
        ('{"nights": 3}', "missing required field `check_in`"),
        ('["2026-12-01", 3]', "Expected `object`, got `array`"),
    ],
)
def test_invalid_arguments(registry: ToolRegistry, arguments, message):
    outcome = registry.execute("quote", arguments)

    assert not outcome.ok
    assert outcome.error == "invalid_arguments"
    assert _error(outcome.output)["type"] == "invalid_arguments"
    assert message in _error(outcome.output)["message"]


def test_a_raising_tool_gives_type_and_message_without_traceback(caplog):
    def explode(args: Guest) -> str:
        raise LookupError(f"no booking for {args.name}")

    with (
        ToolRegistry([Tool("find", "d", explode, Guest)]) as tools,
        caplog.at_level(logging.ERROR, logger="conserje.assistant.tools"),
    ):
        outcome = tools.execute("find", '{"name": "Ana"}')

    assert outcome.error == "tool_failed"
    assert _error(outcome.output) == {
        "type": "tool_failed",
        "message": "LookupError: no booking for Ana",
    }
    assert "Traceback" not in outcome.output
    assert "explode" in caplog.text  # the traceback went to the log


def test_an_unencodable_result_is_a_tool_failure():
    with ToolRegistry([Tool("t", "d", lambda args: {"when": object()}, Guest)]) as tools:
        outcome = tools.execute("t", '{"name": "Ana"}')

    assert outcome.error == "tool_failed"
    assert "TypeError" in _error(outcome.output)["message"]


def test_a_slow_tool_times_out_and_is_abandoned():
    release = threading.Event()
    finished = threading.Event()

    def stuck(args: Guest) -> str:
        release.wait()
        finished.set()
        return "late"

    tools = ToolRegistry([Tool("slow", "d", stuck, Guest, timeout=0.2)])
    try:
        outcome = tools.execute("slow", '{"name": "Ana"}')

        assert not outcome.ok
        assert outcome.error == "timeout"
        assert _error(outcome.output) == {
            "type": "timeout",
            "message": "slow did not answer within 0.2 s.",
        }
        assert 0.2 <= outcome.duration < 1.5
        assert not finished.is_set()
    finally:
        release.set()
        tools.close()
    assert finished.wait(5)


def test_calls_beyond_max_workers_wait_their_turn():
    release = threading.Event()

    def stuck(args: Guest) -> str:
        release.wait()
        return "late"

    tools = ToolRegistry(
        [
            Tool("slow", "d", stuck, Guest, timeout=0.2),
            Tool("fast", "d", lambda args: "ok", Guest, timeout=0.2),
            Tool("patient", "d", lambda args: "ok", Guest, timeout=5),
        ],
        max_workers=1,
    )
    try:
        assert tools.execute("slow", '{"name": "a"}').error == "timeout"
        # The only worker is still stuck, so the next call cannot start in time.
        assert tools.execute("fast", '{"name": "a"}').error == "timeout"
        release.set()
        assert tools.execute("patient", '{"name": "a"}').output == "ok"
    finally:
        release.set()
        tools.close()


def test_output_too_large():
    with ToolRegistry(
        [Tool("pdf", "d", lambda args: "x" * 101, Guest)], max_output_bytes=100
    ) as tools:
        outcome = tools.execute("pdf", '{"name": "Ana"}')

    assert not outcome.ok
    assert outcome.error == "output_too_large"
    assert _error(outcome.output)["message"] == "The result has 101 bytes; at most 100 are allowed."


def test_default_output_cap_is_16_kib():
    with ToolRegistry([Tool("t", "d", lambda args: args.name, Guest)]) as tools:
        fits = tools.execute("t", json.dumps({"name": "x" * 16 * 1024}))
        too_big = tools.execute("t", json.dumps({"name": "x" * (16 * 1024 + 1)}))

    assert fits.ok
    assert too_big.error == "output_too_large"


def test_execute_after_close_fails_softly():
    tools = ToolRegistry([Tool("t", "d", lambda args: "ok", Guest)])
    tools.close()

    outcome = tools.execute("t", '{"name": "Ana"}')

    assert outcome.error == "tool_failed"


# --- plugins ---------------------------------------------------------------------------


# The plugins installed next to Conserje, read before a test adds its own to sys.path.
INSTALLED = installed_tool_names()

PLUGIN = """
import msgspec

from conserje.assistant.tools import Tool, tool


class Question(msgspec.Struct):
    text: str


@tool(description="Answer from the house rules.")
def house_rules(args: Question) -> str:
    return "No parties after 22:00."


def more_tools():
    return [
        Tool("parking", "Where to park.", lambda args: "Behind the building.", Question),
        Tool("wifi", "The wifi password.", lambda args: "hunter2", Question),
    ]


NOT_A_TOOL = 42
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Install a distribution declaring ``conserje.tools`` entry points, for this test only."""
    module = f"conserje_plugin_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN))
    dist_info = tmp_path / "conserje_plugin_test-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: conserje-plugin-test\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[conserje.tools]\n"
        f"house_rules = {module}:house_rules\n"
        f"more = {module}:more_tools\n"
        "missing = conserje_no_such_module:tools\n"
        f"wrong = {module}:NOT_A_TOOL\n"
        "[other.group]\n"
        f"ignored = {module}:house_rules\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def test_entry_points_register_tools_and_report_broken_ones(plugin: str, caplog):
    with ToolRegistry() as tools, caplog.at_level(logging.WARNING):
        problems = tools.load_entry_points()

        assert tools.names() == ["house_rules", "parking", "wifi", *INSTALLED]
        assert tools.execute("wifi", '{"text": "?"}').output == "hunter2"
    assert len(problems) == 2
    missing, wrong = sorted(problems)
    assert missing.startswith("entry point missing (conserje_no_such_module:tools): ")
    assert "ModuleNotFoundError" in missing
    assert wrong == (
        f"entry point wrong ({plugin}:NOT_A_TOOL): "
        "TypeError: expected a Tool or an iterable of Tools, got int"
    )
    assert "cannot load tools" in caplog.text


def test_entry_points_of_another_group(plugin: str):
    with ToolRegistry() as tools:
        assert tools.load_entry_points("other.group") == []
        assert tools.names() == ["house_rules"]


def test_an_entry_point_clashing_with_a_registered_name_adds_none_of_its_tools(plugin: str):
    with ToolRegistry([Tool("wifi", "Ours.", lambda args: "ours", Guest)]) as tools:
        problems = tools.load_entry_points()

        assert tools.names() == ["wifi", "house_rules", *INSTALLED]
        assert any("already registered: wifi" in problem for problem in problems)
