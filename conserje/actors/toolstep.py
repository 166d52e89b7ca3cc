"""The tool step of a turn: run the calls the model asked for, each at most once.

Every call is journaled (``tool_called``) before it runs and its result
(``tool_finished``) after. A call found journaled but without a result after a crash is
never run again: the model is told it was interrupted and that its effect is unknown,
because running a booking twice is worse than asking. Calls of one run execute in
parallel; if one is slow and its tool declares an interim message ("Let me check..."),
the guest gets that message while waiting.

``escalate_to_human`` is built in: it notifies the staff chat through Whapi and pauses
the assistant for this chat (``handoff_started``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from typing import Any

import msgspec

from conserje.assistant.builtin_tools import EscalateArgs
from conserje.assistant.tools import Tool, ToolOutcome
from conserje.errors import WhapiError
from conserje.eventlog.events import (
    Event,
    HandoffStarted,
    InterimSent,
    ToolCall,
    ToolCalled,
    ToolFinished,
)
from conserje.eventlog.projection import ChatState, TurnInFlight
from conserje.logs import mask

__all__ = ["ESCALATE", "ToolStep"]

log = logging.getLogger(__name__)


def _run_by_the_turn(args: EscalateArgs) -> dict[str, Any]:
    raise RuntimeError("escalate_to_human is run by the turn, not by the registry")


ESCALATE = Tool(
    name="escalate_to_human",
    description=(
        "Hand the conversation to a person on the team when the guest asks for one, "
        "when something is urgent or sensitive, or when you cannot help. The assistant "
        "then stays quiet in this chat while staff take over."
    ),
    func=_run_by_the_turn,
    args_type=EscalateArgs,
)


def _error(kind: str, message: str) -> str:
    return msgspec.json.encode({"error": {"type": kind, "message": message}}).decode()


_INTERRUPTED = ToolOutcome(
    ok=False,
    output=_error(
        "interrupted",
        "The server restarted while this tool ran; whether it took effect is unknown. "
        "Do not assume it did; check or ask.",
    ),
    error="interrupted",
    duration=0.0,
)


class ToolStep:
    """Runs one round of tool calls for a chat's turn.

    Args:
        deps: the turn's dependencies (``TurnDeps``).
        state: the chat's projection.
        record: journals events and folds them into ``state``.
    """

    def __init__(
        self, deps: Any, state: ChatState, record: Callable[[Sequence[Event]], None]
    ) -> None:
        self._deps = deps
        self._state = state
        self._record = record

    def schemas(self) -> list[dict[str, Any]]:
        """Return the tool definitions offered to the model."""
        return [ESCALATE.schema(), *self._deps.tools.schemas()]

    def run(self, turn: TurnInFlight) -> None:
        """Give every pending call of ``turn`` a result."""
        interrupted = [c for c in turn.pending_calls if c.call_id in turn.started_calls]
        if interrupted:
            self._record([self._finished(turn, c, _INTERRUPTED) for c in interrupted])
        fresh = turn.pending_calls
        if not fresh:
            return
        self._record(
            [
                ToolCalled(
                    chat=self._state.chat,
                    turn_id=turn.turn_id,
                    call_id=c.call_id,
                    name=c.name,
                    arguments=c.arguments,
                )
                for c in fresh
            ]
        )
        outcomes = self._execute(turn, fresh)
        self._record([self._finished(turn, c, outcomes[c.call_id]) for c in fresh])

    def _finished(self, turn: TurnInFlight, call: ToolCall, outcome: ToolOutcome) -> ToolFinished:
        return ToolFinished(
            chat=self._state.chat,
            turn_id=turn.turn_id,
            call_id=call.call_id,
            name=call.name,
            ok=outcome.ok,
            output=outcome.output,
            error=outcome.error,
            duration_ms=round(outcome.duration * 1000),
        )

    def _execute(self, turn: TurnInFlight, calls: list[ToolCall]) -> dict[str, ToolOutcome]:
        outcomes = {c.call_id: self._escalate(c) for c in calls if c.name == ESCALATE.name}
        others = [c for c in calls if c.name != ESCALATE.name]
        if not others:
            return outcomes
        registry = self._deps.tools
        with ThreadPoolExecutor(max_workers=len(others), thread_name_prefix="tool") as pool:
            futures: dict[Future[ToolOutcome], ToolCall] = {
                # Each call's log lines keep the turn's trace id (see conserje.logs).
                pool.submit(copy_context().run, registry.execute, c.name, c.arguments): c
                for c in others
            }
            _, slow = wait(futures, timeout=self._deps.interim_after)
            if slow:
                self._interim(turn, [futures[f] for f in slow])
            for future, call in futures.items():
                outcomes[call.call_id] = future.result()
        return outcomes

    def _interim(self, turn: TurnInFlight, slow: list[ToolCall]) -> None:
        for call in slow:
            tool = self._deps.tools.get(call.name)
            if tool is None or not tool.interim_message:
                continue
            try:
                whapi_id = self._deps.whapi.send_text(self._state.chat, tool.interim_message)
            except WhapiError as exc:
                log.warning("chat %s: interim message not sent: %s", mask(self._state.chat), exc)
                return
            self._record(
                [
                    InterimSent(
                        chat=self._state.chat,
                        turn_id=turn.turn_id,
                        call_id=call.call_id,
                        whapi_id=whapi_id,
                        text=tool.interim_message,
                    )
                ]
            )
            return

    def _escalate(self, call: ToolCall) -> ToolOutcome:
        try:
            args = ESCALATE.parse_arguments(call.arguments)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return ToolOutcome(
                False, _error("invalid_arguments", str(exc)), "invalid_arguments", 0.0
            )
        assert isinstance(args, EscalateArgs)
        notified = self._notify_staff(args)
        until = self._deps.clock.now() + self._deps.handoff_pause
        self._record(
            [
                HandoffStarted(
                    chat=self._state.chat,
                    by="assistant",
                    until=until,
                    reason=args.reason,
                    summary=args.summary,
                    urgency=args.urgency,
                )
            ]
        )
        result = {
            "handed_over": True,
            "staff_notified": notified,
            "note": "Tell the guest a person from the team will answer here soon.",
        }
        return ToolOutcome(True, msgspec.json.encode(result).decode(), "", 0.0)

    def _notify_staff(self, args: EscalateArgs) -> bool:
        staff = self._deps.staff_chat
        if not staff:
            log.warning(
                "chat %s asked for a person but STAFF_CHAT_ID is not set", mask(self._state.chat)
            )
            return False
        guest = self._state.guest_name or "a guest"
        number = self._state.chat.partition("@")[0]
        text = (
            f"[{args.urgency}] {guest} (+{number}) needs a person: {args.reason}\n\n{args.summary}"
        )
        try:
            self._deps.whapi.send_text(staff, text)
        except WhapiError as exc:
            log.warning("staff not notified of chat %s: %s", mask(self._state.chat), exc)
            return False
        return True
