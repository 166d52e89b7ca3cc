"""Function calling for :class:`~conserje.testing.fake_openai.FakeOpenAI`.

A test scripts which calls the "model" makes with a :data:`ToolCalls` callable; the
fake answers with ``function_call`` output items, and checks, as the API does, that every
call sent back in ``input`` is paired with its ``function_call_output``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "ToolCalls",
    "calls_on_first_request",
    "pairing_problem",
    "tool_outputs",
]

ToolCalls = Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]]
"""Decides the ``(name, arguments)`` calls to answer a request body with; none gives text."""


def tool_outputs(input_: Any) -> list[str]:
    """Return the ``function_call_output`` outputs sent since the last user message, in order.

    Outputs from earlier turns (a resent history) do not count, so a new user message
    starts a new turn. An output given as content parts comes back as its JSON.
    """
    outputs: list[str] = []
    for item in input_ if isinstance(input_, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("role") == "user" and item.get("type", "message") == "message":
            outputs = []
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            outputs.append(output if isinstance(output, str) else json.dumps(output))
    return outputs


def calls_on_first_request(calls: Iterable[tuple[str, dict[str, Any]]]) -> ToolCalls:
    """Make these calls on a turn's first request, and answer with text once outputs arrive."""
    script = list(calls)

    def decide(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if tool_outputs(body.get("input")):
            return []
        return [(name, copy.deepcopy(arguments)) for name, arguments in script]

    return decide


def pairing_problem(input_: Any, earlier_calls: Iterable[str]) -> str | None:
    """Tell what the API would reject in how ``input_`` pairs function calls and outputs.

    Args:
        input_: the request's ``input``.
        earlier_calls: the ``call_id`` s of the calls in the ``previous_response_id``
            response, which must be answered in this input.

    Returns:
        The API's error message, or ``None`` if every call has its output after it.
    """
    calls = list(earlier_calls)
    answered: set[str] = set()
    for item in input_ if isinstance(input_, list) else []:
        if not isinstance(item, dict):
            continue
        call_id = item.get("call_id")
        if item.get("type") == "function_call":
            calls.append(call_id)
        elif item.get("type") == "function_call_output":
            if call_id not in calls:
                return f"No tool call found for function call output with call_id {call_id}."
            answered.add(call_id)
    missing = [call_id for call_id in calls if call_id not in answered]
    return f"No tool output found for function call {missing[0]}." if missing else None
