"""A stateful fake of the OpenAI Responses API, served over real HTTP.

:class:`FakeOpenAI` answers ``POST /v1/responses``, ``GET /v1/responses/{id}`` and
``POST /v1/responses/{id}/cancel`` with bodies that the ``openai`` SDK accepts under
``_strict_response_validation=True``. Background responses walk the documented
lifecycle (``queued`` → ``in_progress`` → a terminal status), one step per retrieve,
so the code under test must really poll. Tests steer the run with :attr:`FakeOpenAI.hold`,
:meth:`FakeOpenAI.complete` and scripted failures, and read back what was sent with
:meth:`FakeOpenAI.created`. Transport faults (429, 5xx, slow or dropped answers) come
from :meth:`FakeServer.inject`.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conserje.testing._server import (
    REQUEST_LOG_LIMIT,
    FakeRequest,
    FakeResponse,
    FakeServer,
    json_response,
    keep_newest,
)
from conserje.testing.fake_audio import FakeAudio
from conserje.testing.fake_compaction import compacted_response
from conserje.testing.fake_tool_calls import (
    ToolCalls,
    calls_on_first_request,
    pairing_problem,
    tool_outputs,
)

__all__ = ["FakeOpenAI", "Reply", "Usage", "default_reply", "estimate_usage", "last_user_text"]

Reply = Callable[[dict[str, Any]], str]
"""Decides the assistant's text from the JSON body of ``POST /v1/responses``."""

Usage = Callable[[dict[str, Any], str], tuple[int, int]]
"""Decides ``(input_tokens, output_tokens)`` from the request body and the reply."""

_PENDING = frozenset({"queued", "in_progress"})
# The rule of thumb OpenAI gives for English text; good enough for budget tests.
_CHARS_PER_TOKEN = 4


def last_user_text(input_: Any) -> str:
    """Return the text of the last user message in a Responses ``input``.

    Args:
        input_: the request's ``input``: a string (the user message itself) or a list of items.

    Returns:
        The message text; several ``input_text`` parts are joined with ``" | "``, and an input
        without a user message gives ``""``.
    """
    if isinstance(input_, str):
        return input_
    for item in reversed(input_ if isinstance(input_, list) else []):
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else []
        return " | ".join(
            str(p.get("text", ""))
            for p in parts
            if isinstance(p, dict) and p.get("type") == "input_text"
        )
    return ""


def default_reply(body: dict[str, Any]) -> str:
    """Echo the last user message, so every turn's reply tells which input produced it.

    A request that answers function calls gets ``"tool results: "`` and the outputs
    joined with ``"; "`` instead.
    """
    outputs = tool_outputs(body.get("input"))
    if outputs:
        return "tool results: " + "; ".join(outputs)
    return "echo: " + last_user_text(body.get("input"))


def estimate_usage(body: dict[str, Any], reply: str) -> tuple[int, int]:
    """Estimate ``(input_tokens, output_tokens)`` at about four characters a token.

    Input counts the instructions plus the input as sent (a list input is counted on its
    JSON form, so longer histories cost more). Both counts are at least 1.
    """
    input_ = body.get("input")
    text = input_ if isinstance(input_, str) else json.dumps(input_, ensure_ascii=False)
    chars = len(text) + len(str(body.get("instructions") or ""))
    return max(1, chars // _CHARS_PER_TOKEN), max(1, len(reply) // _CHARS_PER_TOKEN)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _function_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": _new_id("fc"),
        "call_id": _new_id("call"),
        "name": name,
        "arguments": json.dumps(arguments, ensure_ascii=False),
        "status": "completed",
    }


def _error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> FakeResponse:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_response(status, {"error": error})


@dataclass
class _Run:
    """One response the fake holds, with the reply decided at creation."""

    id: str
    body: dict[str, Any]
    created_at: int
    reply: str
    tokens: tuple[int, int]
    stored: bool
    status: str = "queued"
    failure: dict[str, str] | None = None
    completed_at: int | None = None
    message_id: str = field(default_factory=lambda: _new_id("msg"))
    calls: list[dict[str, Any]] = field(default_factory=list)
    born: float = 0.0

    @property
    def background(self) -> bool:
        return self.body.get("background") is True

    def render(self) -> dict[str, Any]:
        """Build the wire ``Response`` for the current status."""
        body = self.body
        done = self.status == "completed"
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "model": body["model"],
            # A response that calls tools carries the calls instead of a message.
            "output": (self.calls or [self._message()]) if done else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "background": self.background,
            "error": self.failure if self.status == "failed" else None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata") or {},
            "previous_response_id": body.get("previous_response_id"),
            "store": self.stored,
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            # Usage is only known once a run is done; cancelled runs report null, as the API does.
            "usage": self._usage() if done else None,
        }
        if done:
            payload["completed_at"] = self.completed_at
        return payload

    def _message(self) -> dict[str, Any]:
        return {
            "type": "message",
            "id": self.message_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": self.reply, "annotations": []}],
        }

    def _usage(self) -> dict[str, Any]:
        input_tokens, output_tokens = self.tokens
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }


class FakeOpenAI(FakeServer):
    """A fake OpenAI Responses API with background runs, cancellation and scripted failures.

    Attributes:
        reply: decides the assistant text from the request body; replace it at any time.
        usage: decides the token counts from the request body and the reply.
        hold: while true, background runs do not advance past ``in_progress``.
        latency: ``None`` (the default) moves a background run one step per retrieve;
            seconds makes it finish that long after its creation whether or not anyone
            polls, as real runs do, so a run whose id a crash lost still ends, and a
            retrieve before then finds it pending.
        stall: while true, background runs stay ``queued`` however often they are polled.
        tool_calls: decides the function calls to answer a request with; ``None`` or no
            calls gives a text reply.
        compacts: whether ``POST /v1/responses/compact`` exists; without it the fake
            answers 404, as OpenAI-compatible servers without the endpoint do.
        audio: ``/v1/audio/transcriptions`` and ``/v1/audio/speech``: register
            transcripts and read back what was uploaded or spoken.
    """

    def __init__(
        self,
        *,
        reply: Reply = default_reply,
        usage: Usage = estimate_usage,
        hold: bool = False,
        clock: Callable[[], float] = time.time,
        tool_calls: ToolCalls | None = None,
        latency: float | None = None,
        log_limit: int = REQUEST_LOG_LIMIT,
    ) -> None:
        """Create the fake; it serves once started (or entered as a context manager).

        Args:
            reply: decides the assistant text; the default echoes the last user message.
            usage: decides ``(input_tokens, output_tokens)``; the default estimates from lengths.
            hold: start with background runs held at ``in_progress``.
            clock: the time source for ``created_at`` and ``completed_at``.
            tool_calls: decides the function calls to answer a request with.
            latency: seconds a background run takes; ``None``: one step per retrieve.
            log_limit: requests, responses, compactions, transcriptions and speeches
                kept, each the newest (``REQUEST_LOG_LIMIT``).
        """
        super().__init__(log_limit=log_limit)
        self.reply = reply
        self.usage = usage
        self.hold = hold
        self.tool_calls = tool_calls
        self.latency = latency
        self.stall = False
        self.compacts = True
        self.audio = FakeAudio(log_limit=log_limit)
        self._compactions: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._clock = clock
        self._state = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._failures: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        """The URL to pass as the SDK's ``base_url``."""
        return f"{self.url}/v1"

    def release(self) -> None:
        """Let held background runs complete on their next retrieve."""
        self.hold = False

    def call_tool_on_first_request(self, name: str, arguments: dict[str, Any]) -> None:
        """Answer each turn's first request with one call, and the follow-up with text."""
        self.call_tools_on_first_request([(name, arguments)])

    def call_tools_on_first_request(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Answer each turn's first request with these parallel calls, and the follow-up with text.

        A first request is one that sends no ``function_call_output`` after its last user
        message.
        """
        self.tool_calls = calls_on_first_request(calls)

    def complete(self, response_id: str) -> None:
        """Finish a pending run now, ignoring :attr:`hold` (a scripted failure still applies).

        Raises:
            KeyError: no response has this id.
        """
        with self._state:
            run = self._runs[response_id]
            if run.status in _PENDING:
                self._finish(run)

    def fail_next_run(
        self,
        code: str = "server_error",
        message: str = "The server had an error while processing your request.",
    ) -> None:
        """Make the next background response end ``failed`` with this error when it finishes.

        Under strict validation the SDK accepts only the ``code`` values its ``ResponseError``
        lists (``server_error``, ``rate_limit_exceeded``, ``invalid_prompt``, ...).
        """
        with self._state:
            self._failures.append({"code": code, "message": message})

    def fail_run(
        self,
        response_id: str,
        code: str = "server_error",
        message: str = "The server had an error while processing your request.",
    ) -> None:
        """Make a pending background run end ``failed`` with this error when it finishes.

        Raises:
            KeyError: no response has this id.
        """
        with self._state:
            self._runs[response_id].failure = {"code": code, "message": message}

    def created(self) -> list[dict[str, Any]]:
        """Return the bodies of the requests that created a response, oldest first."""
        with self._state:
            return [copy.deepcopy(run.body) for run in self._runs.values()]

    def compactions(self) -> list[dict[str, Any]]:
        """Return the bodies of the compact requests answered, oldest first."""
        with self._state:
            return copy.deepcopy(list(self._compactions))

    def input_parts(self, kind: str) -> list[dict[str, Any]]:
        """Return the content parts of type ``kind`` (``input_image``, ``input_file``) sent.

        Parts are collected from the user messages of every create request, oldest first.
        """
        found: list[dict[str, Any]] = []
        for body in self.created():
            items = body.get("input")
            for item in items if isinstance(items, list) else []:
                content = item.get("content") if isinstance(item, dict) else None
                for part in content if isinstance(content, list) else []:
                    if isinstance(part, dict) and part.get("type") == kind:
                        found.append(part)
        return found

    def response_ids(self) -> list[str]:
        """Return the ids of every response created, oldest first."""
        with self._state:
            return list(self._runs)

    def running(self) -> list[str]:
        """Return the ids of the responses still ``queued`` or ``in_progress``."""
        with self._state:
            self._finish_due()
            return [run.id for run in self._runs.values() if run.status in _PENDING]

    def status_of(self, response_id: str) -> str:
        """Return a response's status, without advancing it as a retrieve would.

        Raises:
            KeyError: no response has this id.
        """
        with self._state:
            self._finish_due()
            return self._runs[response_id].status

    def route(self, request: FakeRequest) -> FakeResponse:
        """Answer one Responses API request."""
        match request.method, request.path.rstrip("/").split("/")[1:]:
            case "POST", ["v1", "responses"]:
                answer = self._create(request)
            case "POST", ["v1", "responses", "compact"] if self.compacts:
                answer = self._compact(request)
            case "GET", ["v1", "responses", response_id]:
                answer = self._retrieve(response_id)
            case "POST", ["v1", "responses", response_id, "cancel"]:
                answer = self._cancel(response_id)
            case "POST", ["v1", "audio", "transcriptions"]:
                answer = self.audio.transcribe(request)
            case "POST", ["v1", "audio", "speech"]:
                answer = self.audio.speak(request)
            case _:
                answer = _error(404, f"Unknown route: {request.method} {request.path}")
        answer.headers.setdefault("x-request-id", _new_id("req"))
        return answer

    def _create(self, request: FakeRequest) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        for key in ("model", "input"):
            if body.get(key) is None:
                return _error(
                    400,
                    f"Missing required parameter: '{key}'.",
                    param=key,
                    code="missing_required_parameter",
                )
        stored = body.get("store") is not False
        if body.get("background") is True and not stored:
            return _error(400, "Background mode requires store=true.", param="store")
        previous_id = body.get("previous_response_id")
        with self._state:
            previous = self._lookup(previous_id) if isinstance(previous_id, str) else None
            earlier = [call["call_id"] for call in previous.calls] if previous else []
        problem = pairing_problem(body["input"], earlier)
        if problem is not None:
            return _error(400, problem, param="input")
        # The hooks run outside the lock so they may inspect the fake themselves.
        scripted = self.tool_calls(body) if self.tool_calls is not None else []
        calls = [_function_call(name, arguments) for name, arguments in scripted]
        reply = "" if calls else self.reply(body)
        tokens = self.usage(body, reply)
        with self._state:
            run = _Run(
                id=_new_id("resp"),
                body=body,
                created_at=int(self._clock()),
                born=self._clock(),
                reply=reply,
                tokens=tokens,
                stored=stored,
                calls=calls,
            )
            if not run.background:
                self._finish(run)
            elif self._failures:
                run.failure = self._failures.pop(0)
            self._runs[run.id] = run
            keep_newest(self._runs, self.log_limit)
            payload = run.render()
        return json_response(200, payload)

    def _compact(self, request: FakeRequest) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        answer = compacted_response(body if isinstance(body, dict) else {})
        if isinstance(answer, str):
            return _error(400, answer)
        with self._state:
            self._compactions.append(body)
        return json_response(200, answer)

    def _retrieve(self, response_id: str) -> FakeResponse:
        with self._state:
            run = self._lookup(response_id)
            if run is None:
                return _error(404, f"No response found with id '{response_id}'.")
            self._advance(run)
            payload = run.render()
        return json_response(200, payload)

    def _cancel(self, response_id: str) -> FakeResponse:
        with self._state:
            run = self._lookup(response_id)
            if run is None:
                return _error(404, f"No response found with id '{response_id}'.")
            if not run.background:
                return _error(400, "Only responses created with background=true can be cancelled.")
            # A terminal response comes back unchanged: cancelling is idempotent.
            if run.status in _PENDING:
                run.status = "cancelled"
            payload = run.render()
        return json_response(200, payload)

    def _advance(self, run: _Run) -> None:
        """Move a pending run on, as one retrieve sees it."""
        if run.status not in _PENDING or self.stall:
            return
        if self.latency is None:
            if run.status == "queued":
                run.status = "in_progress"
            elif not self.hold:
                self._finish(run)
        elif self._due(run):
            self._finish(run)
        else:
            run.status = "in_progress"

    def _due(self, run: _Run) -> bool:
        return (
            self.latency is not None
            and not self.hold
            and not self.stall
            and self._clock() >= run.born + self.latency
        )

    def _finish_due(self) -> None:
        """Finish the background runs whose latency has passed, polled or not."""
        for run in self._runs.values():
            if run.background and run.status in _PENDING and self._due(run):
                self._finish(run)

    def _lookup(self, response_id: str) -> _Run | None:
        run = self._runs.get(response_id)
        # store=false responses exist for the inspection helpers but not over HTTP.
        return run if run is not None and run.stored else None

    def _finish(self, run: _Run) -> None:
        if run.failure is not None:
            run.status = "failed"
        else:
            run.status = "completed"
            run.completed_at = int(self._clock())
