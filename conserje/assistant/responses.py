"""The model side of a turn: one run through the OpenAI Responses API.

A *run* is one model response. With background mode the request returns at once
(``queued``) and the run is polled to an end state; its id is journaled before polling
so that a crash leaves a run that boot can find. Without background mode the request
waits for the answer; a crash then loses the run and boot runs the turn again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai

from conserje.actors.clock import Clock
from conserje.errors import ContextTooLong, ModelError
from conserje.eventlog.events import ToolCall

__all__ = ["CREATE_ATTEMPTS", "TERMINAL", "ResponsesModel", "RunResult"]

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 4
"""Tries to start a run before the turn fails (with backoff between them)."""

TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete"})
"""Statuses after which a run never changes."""

_NO_SUCH_ENDPOINT = frozenset({404, 405, 501})
"""Statuses by which an OpenAI-compatible server says it has no such endpoint."""


@dataclass(frozen=True)
class RunResult:
    """What Conserje keeps of a model response."""

    response_id: str
    status: str
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    error: str = ""
    calls: tuple[ToolCall, ...] = ()

    @property
    def terminal(self) -> bool:
        """Tell whether the run has ended."""
        return self.status in TERMINAL


class ResponsesModel:
    """Creates, polls, retrieves and cancels runs with the real ``openai`` SDK.

    Args:
        client: an ``openai.OpenAI`` client (its base URL may point at any server
            that speaks the Responses API).
        model: the model name.
        instructions: the system prompt, sent with every run (the API does not carry
            instructions over between responses).
        background: create runs in background mode and poll them.
        clock: the time source for polling and its deadline.
        run_timeout: seconds a run may take before it is cancelled.
        poll_interval: first pause between polls; it grows to ``poll_max``.
        max_concurrency: runs in flight at once across all chats (``OPENAI_MAX_CONCURRENCY``).
    """

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        model: str,
        instructions: str,
        background: bool,
        clock: Clock,
        run_timeout: float,
        poll_interval: float = 0.2,
        poll_max: float = 2.0,
        max_concurrency: int = 32,
    ) -> None:
        self._client = client
        # A retried create can start a second run that nobody polls; creates are
        # never retried by the SDK, only reads are.
        self._create_client = client.with_options(max_retries=0)
        self.model = model
        self.instructions = instructions
        self.background = background
        self._clock = clock
        self._run_timeout = run_timeout
        self._poll_interval = poll_interval
        self._poll_max = poll_max
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._server_compacts = True

    def create(
        self,
        input_items: list[dict[str, Any]],
        *,
        chat: str,
        turn_id: str,
        tools: list[dict[str, Any]] | None = None,
        on_retry: Callable[[int, str, bool], None] | None = None,
    ) -> RunResult:
        """Start a run for one turn, offering ``tools`` (function tool definitions).

        A refusal that may pass (429, 5xx, a lost connection) is retried with backoff,
        honouring ``Retry-After``, within the run timeout. Before each retry
        ``on_retry(attempt, reason, ambiguous)`` is called; ``ambiguous`` means the
        server may have started a run anyway (only a 429 proves it did not).

        Raises:
            ContextTooLong: the input is longer than the model's context window.
            ModelError: the API refused the request, or kept failing.
        """
        deadline = self._clock.now() + self._run_timeout
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return _result(self._create_once(input_items, chat, turn_id, tools))
            except openai.BadRequestError as exc:
                if exc.code == "context_length_exceeded":
                    raise ContextTooLong(f"create failed: {_describe(exc)}") from exc
                raise ModelError(f"create failed: {_describe(exc)}") from exc
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APIConnectionError,
            ) as exc:
                pause = _retry_after(exc) or min(2.0 ** (attempt - 1), 8.0)
                if attempt == CREATE_ATTEMPTS or self._clock.now() + pause > deadline:
                    raise ModelError(
                        f"create failed after {attempt} attempts: {_describe(exc)}"
                    ) from exc
                if on_retry is not None:
                    on_retry(attempt, _describe(exc), not isinstance(exc, openai.RateLimitError))
                self._clock.sleep(pause)
            except openai.OpenAIError as exc:
                raise ModelError(f"create failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _create_once(
        self,
        input_items: list[dict[str, Any]],
        chat: str,
        turn_id: str,
        tools: list[dict[str, Any]] | None,
    ) -> Any:
        return self._create_client.responses.create(
            model=self.model,
            instructions=self.instructions,
            input=input_items,  # type: ignore[arg-type]
            background=self.background,
            store=self.background,
            metadata={"conserje_turn": turn_id},
            safety_identifier=_pseudonym(chat),
            **({"tools": tools} if tools else {}),
        )

    def summarize(self, text: str, *, instructions: str, max_output_tokens: int) -> str:
        """Have the model write a summary of ``text`` (a plain, foreground request).

        Raises:
            ModelError: the request failed or gave no text.
        """
        try:
            response = self._client.responses.create(
                model=self.model,
                instructions=instructions,
                input=[{"role": "user", "content": text}],
                max_output_tokens=max_output_tokens,
                store=False,
            )
        except openai.OpenAIError as exc:
            raise ModelError(f"summary failed: {_describe(exc)}") from exc
        summary = _result(response).text.strip()
        if not summary:
            raise ModelError("summary failed: the model wrote nothing")
        return summary

    def compact(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Have the server compact ``items`` with ``POST /responses/compact``.

        The answer is parsed here rather than by the SDK: its strict validation rejects
        the documented output (user messages typed as output messages).

        Returns:
            The items to send instead of ``items`` (the guest's messages and one opaque
            ``compaction`` item), or ``None`` when the server has no compact endpoint;
            that is remembered and the server is not asked again.

        Raises:
            ModelError: the request failed or the answer holds no compaction item.
        """
        if not self._server_compacts:
            return None
        try:
            raw = self._client.responses.with_raw_response.compact(
                model=self.model,
                input=items,  # type: ignore[arg-type]
            )
        except openai.APIStatusError as exc:
            if exc.status_code not in _NO_SUCH_ENDPOINT:
                raise ModelError(f"compact failed: {_describe(exc)}") from exc
            log.info("the model server has no /responses/compact; summaries are used instead")
            self._server_compacts = False
            return None
        except openai.OpenAIError as exc:
            raise ModelError(f"compact failed: {_describe(exc)}") from exc
        try:
            output = json.loads(raw.text)["output"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError("compact failed: the answer is not a compacted response") from exc
        if not isinstance(output, list) or not any(
            isinstance(item, dict) and item.get("type") == "compaction" for item in output
        ):
            raise ModelError("compact failed: the answer holds no compaction item")
        return output

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``max_concurrency`` run slots for the duration of a run.

        Raises:
            ModelError: no slot came free within the run timeout.
        """
        if not self._slots.acquire(timeout=self._run_timeout):
            raise ModelError(f"every model slot stayed busy for {self._run_timeout} s")
        try:
            yield
        finally:
            self._slots.release()

    def retrieve(self, response_id: str) -> RunResult | None:
        """Return the run's current state, or ``None`` if the server does not know it.

        Raises:
            ModelError: the API could not be reached or answered another error.
        """
        try:
            return _result(self._client.responses.retrieve(response_id))
        except openai.NotFoundError:
            return None
        except openai.OpenAIError as exc:
            raise ModelError(f"retrieve failed: {_describe(exc)}") from exc

    def cancel(self, response_id: str) -> None:
        """Ask the server to stop a background run; errors are only logged by callers."""
        try:
            self._client.responses.cancel(response_id)
        except openai.OpenAIError as exc:
            raise ModelError(f"cancel failed: {_describe(exc)}") from exc

    def wait(self, run: RunResult, on_poll: Callable[[], None] | None = None) -> RunResult:
        """Poll ``run`` until it ends, within the run timeout; ``on_poll`` runs before each poll.

        A poll that fails (after the SDK's own retries) is tried again with the
        growing pause, so a few bad minutes at the API do not cost the turn.

        Raises:
            ModelError: the run vanished, or the deadline passed (the run is then
                cancelled).
        """
        deadline = self._clock.now() + self._run_timeout
        pause = self._poll_interval
        while not run.terminal:
            if self._clock.now() >= deadline:
                self._cancel_quietly(run.response_id)
                raise ModelError(f"run {run.response_id} timed out after {self._run_timeout} s")
            self._clock.sleep(pause)
            pause = min(pause * 1.5, self._poll_max)
            if on_poll is not None:
                on_poll()
            try:
                current = self.retrieve(run.response_id)
            except ModelError as exc:
                # The run goes on at the server; a failed poll only delays knowing its
                # end, so it is retried until the run's own deadline.
                log.warning("polling run %s failed (%s); polling on", run.response_id, exc)
                continue
            if current is None:
                raise ModelError(f"run {run.response_id} is unknown to the server")
            run = current
        return run

    def _cancel_quietly(self, response_id: str) -> None:
        try:
            self.cancel(response_id)
        except ModelError:
            return


def _result(response: Any) -> RunResult:
    usage = response.usage
    error = response.error
    status = response.status or "completed"
    completed = status == "completed"
    calls = tuple(
        ToolCall(call_id=item.call_id, name=item.name, arguments=item.arguments)
        for item in (response.output or [])
        if completed and item.type == "function_call"
    )
    return RunResult(
        response_id=response.id,
        status=status,
        text=response.output_text if completed else "",
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_tokens=_cached(usage),
        error=f"{error.code}: {error.message}" if error else "",
        calls=calls,
    )


def _retry_after(exc: openai.OpenAIError) -> float | None:
    """Seconds the server asked to wait (``Retry-After-Ms`` or ``Retry-After``), up to 60."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(response.headers.get(header, "")) * scale
        except ValueError:
            continue
        if value > 0:
            return min(value, 60.0)
    return None


def _cached(usage: Any) -> int:
    details = getattr(usage, "input_tokens_details", None)
    return int(getattr(details, "cached_tokens", 0) or 0)


def _pseudonym(chat: str) -> str:
    """Identify the guest to OpenAI's abuse checks without revealing the phone number."""
    return "wa_" + hashlib.sha256(chat.encode()).hexdigest()[:32]


def _describe(exc: openai.OpenAIError) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} {exc.code or ''}".strip()
    return type(exc).__name__
