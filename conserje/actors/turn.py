"""One turn of a chat, from the messages it consumes to the reply's last chunk.

A turn is a sequence of journaled steps. Each step is written before its effect is
relied on, so a turn interrupted anywhere is finished at boot from what the journal
says, without repeating what already happened:

============================  =====================================================
journal ends with             what :meth:`TurnRunner.advance` does next
============================  =====================================================
``turn_started``              create a run
``run_started`` (background)  retrieve it: deliver if done, keep polling if running,
                              run again if the server lost it
``run_started`` (foreground)  run again (a foreground run cannot be found again)
``run_finished`` completed    send the chunks not yet sent
``reply_sending`` only        ask Whapi whether that chunk went out; resend only if not
============================  =====================================================
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conserje.actors.clock import Clock
from conserje.actors.toolstep import ToolStep
from conserje.assistant.compaction import SUMMARY_INSTRUCTIONS, plan, transcript
from conserje.assistant.context import build_input, context_line, history_input
from conserje.assistant.responses import ResponsesModel, RunResult
from conserje.assistant.shaping import split_reply, typing_time, worth_sending
from conserje.assistant.tools import ToolRegistry
from conserje.assistant.validation import ReplyCheck, Validator, first_correction
from conserje.errors import ContextTooLong, ModelError, WhapiError
from conserje.eventlog.events import (
    Event,
    MediaFailed,
    PresenceSubscribed,
    ReplyRejected,
    ReplySending,
    ReplySent,
    RunFinished,
    RunRecovered,
    RunRetried,
    RunStarted,
    ThreadCompacted,
    ToolCall,
    TurnFinished,
    TurnHeld,
    TurnStarted,
    Usage,
    VoiceFallback,
)
from conserje.eventlog.projection import ChatState, TurnInFlight, guest_words
from conserje.eventlog.protocol import Journal
from conserje.logs import mask, turn_context
from conserje.media.attachments import attachments
from conserje.media.ingest import MediaIngest, failure_note
from conserje.media.ogg import opus_seconds
from conserje.media.speech import SpeechError, VoiceReplies, unspeakable
from conserje.whapi.client import WhapiClient

__all__ = ["MAX_TOOL_ROUNDS", "TurnDeps", "TurnRunner", "tool_items"]

log = logging.getLogger(__name__)

_RECONCILE_SLACK = 120
"""Seconds before a chunk's intent to search Whapi's list from (clocks differ)."""


MAX_TOOL_ROUNDS = 5
"""Rounds of tool calls one turn may make before it is given up."""

CORRECTION_PREFIX = "Your previous draft was not sent. Before you answer again: "
"""How a validator's instruction is put to the model for the corrective retry."""

TYPING_REFRESH = 10.0
"""Seconds between "typing..." refreshes while a run is polled."""

SEND_ATTEMPTS = 3
"""Tries of one reply chunk's send before the turn is given up as failed."""

_MAX_SEND_PAUSE = 30.0
_LOOKS = 2


@dataclass(frozen=True)
class TurnDeps:
    """What a turn needs from the outside world, and the policies it follows.

    Attributes:
        staff_chat: where ``escalate_to_human`` notifies staff (``None``: nobody).
        handoff_pause: seconds the assistant stays quiet after a hand-off.
        fallback_message: the one apology sent when the model fails for good
            (empty: send nothing).
        interim_after: seconds a tool may run before its interim message is sent.
        orphan_policy: what boot does with a run still going after a crash: ``adopt``
            (keep polling it) or ``cancel`` (cancel it and run the turn again).
        token_threshold: a run's input above this many tokens compacts the history
            after the turn (0: never).
        summary_tokens: about how many tokens history takes after compaction.
        compaction_method: ``auto`` (the server's ``/responses/compact`` where it has
            one, else a summary written by the model) or ``summary`` (always a summary,
            so the journal keeps a readable account of what the model remembers).
        validators: the business's reply validators, by name.
        media: fetches and transcribes guests' media (``None``: media is only noted).
        voice: speaks replies to voice notes (``None``: ``VOICE_REPLIES`` is off).
        whapi_timeout: seconds a call to Whapi may take; a send a crash interrupted
            may land at Whapi until this long after it began.
    """

    journal: Journal
    model: ResponsesModel
    whapi: WhapiClient
    clock: Clock
    timezone: str
    tools: ToolRegistry = field(default_factory=ToolRegistry)
    staff_chat: str | None = None
    handoff_pause: float = 1800.0
    fallback_message: str = ""
    interim_after: float = 2.0
    orphan_policy: str = "adopt"
    token_threshold: int = 8000
    summary_tokens: int = 5000
    compaction_method: str = "auto"
    validators: Sequence[tuple[str, Validator]] = ()
    media: MediaIngest | None = None
    voice: VoiceReplies | None = None
    whapi_timeout: float = 15.0


def tool_items(calls: Sequence[ToolCall], outputs: dict[str, str]) -> list[dict[str, Any]]:
    """Return the function calls of a turn so far, each followed by its output."""
    items: list[dict[str, Any]] = []
    for call in calls:
        items.append(
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
        if call.call_id in outputs:
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": outputs[call.call_id],
                }
            )
    return items


class TurnRunner:
    """Runs and resumes the turns of one chat; used only from that chat's actor.

    Args:
        deps: the outside world and the policies.
        state: the chat's projection, updated with every event journaled.
        on_change: called after each journaled step, so operators' views follow a
            long turn as it goes rather than when it ends.
    """

    def __init__(
        self, deps: TurnDeps, state: ChatState, on_change: Callable[[], None] | None = None
    ) -> None:
        self._deps = deps
        self._state = state
        self._on_change = on_change
        self._tools = ToolStep(deps, state, self._record_all)

    def start(self, message_ids: list[str]) -> None:
        """Start a turn that consumes ``message_ids``, and run it to its end."""
        ids = [i for i in message_ids if i in self._state.pending]
        if not ids:
            return
        turn_id = uuid.uuid4().hex[:16]
        self._record(TurnStarted(chat=self._state.chat, turn_id=turn_id, message_ids=ids))
        if self._state.paused(self._deps.clock.now()):
            # A person has the conversation: the messages are kept, not answered.
            self._record(TurnFinished(chat=self._state.chat, turn_id=turn_id, outcome="paused"))
            return
        self.advance()

    def subscribe_presence(self) -> None:
        """Ask Whapi for this guest's typing, once per chat (journaled when done)."""
        contact = self._state.chat.partition("@")[0]
        try:
            self._deps.whapi.subscribe_presence(contact)
        except WhapiError as exc:
            log.info("chat %s: presence not subscribed yet: %s", mask(self._state.chat), exc)
            return
        self._record(PresenceSubscribed(chat=self._state.chat))

    def ingest_media(self) -> None:
        """Fetch and prepare the media of waiting messages that have not been yet.

        Runs before those messages may join a turn; each message's media is bounded by
        ``MEDIA_TIMEOUT_MS``, and its outcome (a transcript, a stored file, or a note
        saying what failed) is journaled.
        """
        for message in list(self._state.pending.values()):
            media = message.media
            if media is None or media.ready:
                continue
            if self._deps.media is None:
                event: Event = MediaFailed(
                    chat=message.chat,
                    message_id=message.message_id,
                    stage="download",
                    error="media handling is not configured",
                    note=failure_note(media, "download"),
                )
            else:
                event = self._deps.media.ingest(message)
            self._record(event)

    def held(self, status: str, until: float) -> None:
        """Journal that the guest's typing holds the waiting burst open."""
        self._record(TurnHeld(chat=self._state.chat, status=status, until=until))

    def _typing(self) -> None:
        """Show "typing..." to the guest; a failure only costs the indicator."""
        self._presence("typing")

    def _presence(self, presence: str) -> None:
        """Show ``typing`` or ``recording`` to the guest; a failure only costs the indicator."""
        try:
            self._deps.whapi.set_presence(self._state.chat, presence)
        except WhapiError as exc:
            log.debug("chat %s: %s not shown: %s", mask(self._state.chat), presence, exc)

    def advance(self) -> None:
        """Take the turn in flight from wherever the journal left it to its end."""
        turn = self._state.turn
        if turn is None:
            return
        with turn_context(turn.turn_id):
            self._advance(turn)

    def _advance(self, turn: TurnInFlight) -> None:
        try:
            for _ in range(2 * MAX_TOOL_ROUNDS + 2):
                if turn.needs_run:
                    run = self._obtain_run(turn)
                    if run.status != "completed":
                        self._fail(turn, f"run {run.status}: {run.error}".strip())
                        return
                elif turn.pending_calls:
                    self._tools.run(turn)
                elif not self._rejected(turn):
                    self._deliver(turn)
                    return
            self._fail(turn, f"the model asked for tools more than {MAX_TOOL_ROUNDS} times")
        except ModelError as exc:
            log.warning("chat %s: turn %s failed: %s", mask(self._state.chat), turn.turn_id, exc)
            self._record(
                RunFinished(
                    chat=self._state.chat, turn_id=turn.turn_id, status="error", error=str(exc)
                )
            )
            self._fail(turn, str(exc))
        except WhapiError as exc:
            log.warning("chat %s: reply not delivered: %s", mask(self._state.chat), exc)
            self._finish(turn, "failed", f"whapi: {exc}")

    def _rejected(self, turn: TurnInFlight) -> bool:
        """Ask the business's validators about the reply; journal one objection, once."""
        if turn.correction or not self._deps.validators or not turn.reply.strip():
            return False
        check = ReplyCheck(
            reply=turn.reply,
            guest_texts=[guest_words(m) for m in turn.messages],
            tool_outputs=[turn.outputs[c.call_id] for c in turn.calls if c.call_id in turn.outputs],
        )
        objection = first_correction(self._deps.validators, check)
        if objection is None:
            return False
        name, instruction = objection
        self._record(
            ReplyRejected(
                chat=self._state.chat,
                turn_id=turn.turn_id,
                validator=name,
                instruction=instruction,
                reply=turn.reply,
            )
        )
        return True

    def _fail(self, turn: TurnInFlight, error: str) -> None:
        """End a turn the model could not answer: one apology, never two in a row."""
        fallback = self._deps.fallback_message
        if not fallback or self._state.last_outcome == "fallback":
            self._finish(turn, "failed", error)
            return
        try:
            self._send_chunk(turn, 0, fallback)
        except WhapiError as exc:
            self._finish(turn, "failed", f"{error}; apology not sent: {exc}")
            return
        self._finish(turn, "fallback", error)

    def _obtain_run(self, turn: TurnInFlight) -> RunResult:
        model = self._deps.model
        with model.slot():
            run = self._recover(turn) if turn.run_status == "started" else None
            recovered = run is not None
            if run is None:
                self._typing()
                run = self._create(turn)
            if not run.terminal:
                run = model.wait(run, on_poll=self._typing_refresher())
        self._record(
            RunFinished(
                chat=self._state.chat,
                turn_id=turn.turn_id,
                response_id=run.response_id,
                status=run.status,
                text=run.text,
                usage=Usage(
                    input_tokens=run.input_tokens,
                    output_tokens=run.output_tokens,
                    cached_tokens=run.cached_tokens,
                ),
                error=run.error,
                calls=list(run.calls),
                recovered=recovered,
            )
        )
        return run

    def _recover(self, turn: TurnInFlight) -> RunResult | None:
        """Decide what to do with a run a crash interrupted; ``None``: run the turn again."""
        run: RunResult | None = None
        if not turn.background:
            outcome = "rerun"
        else:
            run = self._deps.model.retrieve(turn.response_id)
            if run is None:
                outcome = "gone"
            elif run.terminal:
                outcome = "completed" if run.status == "completed" else "failed"
            elif self._deps.orphan_policy == "cancel":
                self._deps.model.cancel(run.response_id)
                outcome = "cancelled"
            else:
                outcome = "adopted"
        self._record(
            RunRecovered(
                chat=self._state.chat,
                turn_id=turn.turn_id,
                response_id=turn.response_id,
                outcome=outcome,
            )
        )
        log.info("turn %s: interrupted run %s %s", turn.turn_id, turn.response_id, outcome)
        return run if outcome in ("completed", "adopted") else None

    def _create_run(self, turn: TurnInFlight) -> RunResult:
        state = self._state
        context = context_line(self._deps.clock.now(), self._deps.timezone, state.guest_name)
        quoted = next((m.quoted for m in reversed(turn.messages) if m.quoted), "")
        texts = [guest_words(m) for m in turn.messages]
        store = self._deps.media.store if self._deps.media is not None else None
        items = build_input(
            state.history,
            texts,
            context,
            quoted,
            state.compacted,
            attachments=attachments(turn.messages, store),
        )
        items += tool_items(turn.calls, turn.outputs)
        if turn.correction:
            items.append({"role": "developer", "content": CORRECTION_PREFIX + turn.correction})
        model = self._deps.model
        return model.create(
            items,
            chat=state.chat,
            turn_id=turn.turn_id,
            tools=self._tools.schemas(),
            on_retry=lambda attempt, error, ambiguous: self._record(
                RunRetried(
                    chat=state.chat,
                    turn_id=turn.turn_id,
                    attempt=attempt,
                    error=error,
                    ambiguous=ambiguous,
                )
            ),
        )

    def _typing_refresher(self) -> Callable[[], None]:
        """Return a poll callback that re-shows "typing..." before WhatsApp hides it."""
        shown = self._deps.clock.now()

        def refresh() -> None:
            nonlocal shown
            if self._deps.clock.now() - shown >= TYPING_REFRESH:
                shown = self._deps.clock.now()
                self._typing()

        return refresh

    def _create(self, turn: TurnInFlight) -> RunResult:
        state = self._state
        try:
            run = self._create_run(turn)
        except ContextTooLong:
            if not self.compact("context_length_exceeded"):
                raise
            run = self._create_run(turn)
        self._record(
            RunStarted(
                chat=state.chat,
                turn_id=turn.turn_id,
                response_id=run.response_id,
                model=self._deps.model.model,
                background=self._deps.model.background,
            )
        )
        return run

    def _deliver(self, turn: TurnInFlight) -> None:
        if not worth_sending(turn.reply, [guest_words(m) for m in turn.messages]):
            self._finish(turn, "empty", "reply was empty or echoed the guest")
            return
        if self._spoken(turn):
            self._finish(turn, "replied")
            return
        for index, chunk in enumerate(split_reply(turn.reply)):
            if index in turn.sent:
                continue
            if index in turn.intended and self._reconcile(turn, index, chunk):
                continue
            self._send_chunk(turn, index, chunk)
        self._finish(turn, "replied")

    def _spoken(self, turn: TurnInFlight) -> bool:
        """Send the reply as one voice note if it should be; return whether it went.

        Only a reply to a voice note is spoken, and only when it names nothing the guest
        must read exactly. Speech that fails, or that Whapi refuses outright, leaves the
        reply to go as text: never both, never neither.

        Raises:
            WhapiError: the voice note's send failed in a way that leaves open whether it
                went out; like a text chunk, it is not resent blindly.
        """
        voice = self._deps.voice
        if 0 in turn.audio:
            return self._resend_voice(turn)
        if voice is None or turn.intended or not self._answers_voice(turn):
            return False
        reason = unspeakable(turn.reply)
        if reason is not None:
            self._voice_fallback(turn, "withheld", reason)
            return False
        self._presence("recording")
        try:
            spoken = voice.speak(turn.reply)
        except SpeechError as exc:
            self._voice_fallback(turn, "failed", str(exc))
            return False
        return self._send_voice(turn, spoken.name, spoken.data)

    @staticmethod
    def _answers_voice(turn: TurnInFlight) -> bool:
        """Tell whether the guest's last message in the turn was a voice note."""
        last = turn.messages[-1].media if turn.messages else None
        return last is not None and last.kind in ("voice", "audio")

    def _resend_voice(self, turn: TurnInFlight) -> bool:
        """Finish a voice note whose send a crash interrupted: find it, or send it again."""
        if 0 in turn.sent:
            return True
        if self._reconcile(turn, 0, turn.reply, voice=True):
            return True
        store = self._deps.voice.store if self._deps.voice is not None else None
        data = store.read_audio(turn.audio[0]) if store is not None else None
        return data is not None and self._send_voice(turn, turn.audio[0], data)

    def _send_voice(self, turn: TurnInFlight, name: str, data: bytes) -> bool:
        chat = self._state.chat
        self._record(
            ReplySending(chat=chat, turn_id=turn.turn_id, chunk=0, text=turn.reply, audio=name)
        )
        seconds = round(opus_seconds(data) or 1)
        try:
            whapi_id = self._send(
                turn,
                0,
                turn.reply,
                lambda: self._deps.whapi.send_voice(chat, data, seconds=seconds),
                voice=True,
            )
        except WhapiError as exc:
            if exc.retryable:
                raise
            # A definite refusal: the note did not go, so the text may.
            self._voice_fallback(turn, "failed", f"whapi: {exc}")
            return False
        if whapi_id is None:
            return True
        self._record(
            ReplySent(
                chat=chat,
                turn_id=turn.turn_id,
                chunk=0,
                whapi_id=whapi_id,
                text=turn.reply,
                audio=name,
            )
        )
        return True

    def _voice_fallback(self, turn: TurnInFlight, reason: str, error: str) -> None:
        log.info("chat %s: reply goes as text (%s: %s)", mask(self._state.chat), reason, error)
        self._record(
            VoiceFallback(chat=self._state.chat, turn_id=turn.turn_id, reason=reason, error=error)
        )

    def _send_chunk(self, turn: TurnInFlight, index: int, chunk: str) -> None:
        chat = self._state.chat
        self._record(ReplySending(chat=chat, turn_id=turn.turn_id, chunk=index, text=chunk))
        whapi_id = self._send(
            turn,
            index,
            chunk,
            lambda: self._deps.whapi.send_text(chat, chunk, typing_time=typing_time(chunk)),
        )
        if whapi_id is not None:
            self._record(
                ReplySent(
                    chat=chat, turn_id=turn.turn_id, chunk=index, whapi_id=whapi_id, text=chunk
                )
            )

    def _send(
        self,
        turn: TurnInFlight,
        index: int,
        chunk: str,
        send: Callable[[], str],
        *,
        voice: bool = False,
    ) -> str | None:
        """Send a chunk (or the voice note speaking it) with ``send``; ``None``: found sent.

        A failure that may pass is tried again. After one that may have sent it anyway
        (a 5xx, a timeout, a lost connection, a 2xx without the message's id) it is
        looked for in Whapi's list first, and resent only if it is not there.

        Args:
            turn: the turn the chunk answers.
            index: the chunk's index in the reply (0 for a voice note).
            chunk: the chunk's text (a voice note's: the whole reply).
            send: makes the Whapi call once and returns the id Whapi gave the message.
            voice: the message is a voice note, looked for as one in Whapi's list.

        Raises:
            WhapiError: Whapi refused for good, or kept failing for :data:`SEND_ATTEMPTS`.
        """
        chat = self._state.chat
        attempt = 1
        while True:
            try:
                return send()
            except WhapiError as exc:
                if not exc.retryable or attempt >= SEND_ATTEMPTS:
                    raise
                log.warning("chat %s: chunk %d not sent: %s", mask(chat), index, exc)
                if exc.ambiguous:
                    if self._landed(turn, index, chunk, voice=voice):
                        return None
                else:
                    self._deps.clock.sleep(min(exc.retry_after or float(attempt), _MAX_SEND_PAUSE))
                attempt += 1

    def _landed(self, turn: TurnInFlight, index: int, chunk: str, *, voice: bool = False) -> bool:
        """Tell whether a send that failed ambiguously reached Whapi after all.

        Whapi may list a send it is still processing only later, so it is looked for
        :data:`_LOOKS` times, one send timeout apart, before it is taken as not sent.

        Raises:
            WhapiError: the last look could not be made; the chunk is not resent blindly.
                It is ambiguous, whatever the look's own failure was: a refused look
                says nothing about the send, so a voice note must not fall back to text.
        """
        for look in range(1, _LOOKS + 1):
            self._deps.clock.sleep(self._deps.whapi_timeout)
            try:
                if self._found_sent(turn, index, chunk, voice=voice):
                    return True
            except WhapiError as exc:
                # Whapi cannot say now; only the last look's silence stops the resend.
                if look == _LOOKS:
                    raise WhapiError(
                        f"chunk {index} may have been sent; Whapi's list cannot say: {exc}",
                        ambiguous=True,
                    ) from exc
        return False

    def _reconcile(
        self, turn: TurnInFlight, index: int, chunk: str, *, voice: bool = False
    ) -> bool:
        """Tell whether a chunk whose send was interrupted did reach Whapi.

        A send still on its way when the server died can land at Whapi until its own
        timeout runs out, so a chunk not found before then is looked for once more
        then; only a chunk missing after that is sent again.

        Raises:
            WhapiError: Whapi cannot say; the chunk is not resent blindly.
        """
        if self._found_sent(turn, index, chunk, voice=voice):
            return True
        landing = turn.intended_at.get(index, 0.0) + self._deps.whapi_timeout
        wait = landing - self._deps.clock.now()
        if wait <= 0:
            return False
        log.info(
            "turn %s: chunk %d not at Whapi yet; looking again in %.1f s", turn.turn_id, index, wait
        )
        self._deps.clock.sleep(wait)
        return self._found_sent(turn, index, chunk, voice=voice)

    def _found_sent(
        self, turn: TurnInFlight, index: int, chunk: str, *, voice: bool = False
    ) -> bool:
        """Look for the chunk (or the voice note) in Whapi's sent messages; journal it if there."""
        since = int(turn.started_at) - _RECONCILE_SLACK
        for record in self._deps.whapi.list_sent(self._state.chat, since=since):
            body = (record.get("text") or {}).get("body")
            found = record.get("type") == "voice" if voice else body == chunk
            if found and record.get("id") not in self._state.sent_ids:
                self._record(
                    ReplySent(
                        chat=self._state.chat,
                        turn_id=turn.turn_id,
                        chunk=index,
                        whapi_id=str(record["id"]),
                        text=chunk,
                        reconciled=True,
                        audio=turn.audio.get(index, "") if voice else "",
                    )
                )
                return True
        return False

    def compact(self, reason: str) -> bool:
        """Replace older history with something shorter; return whether anything changed.

        The server compacts when it can and ``compaction_method`` allows it; otherwise
        the model writes a summary.

        Raises:
            ModelError: the history could not be compacted.
        """
        state = self._state
        target = self._deps.summary_tokens
        older, kept = plan(state.history, target)
        if not older:
            return False
        model = self._deps.model
        items = None
        if self._deps.compaction_method == "auto":
            items = model.compact(history_input(older, state.compacted))
        common = {"chat": state.chat, "kept": kept, "tokens_before": state.last_input_tokens}
        if items is not None:
            self._record(ThreadCompacted(**common, reason=reason, method="server", items=items))
            return True
        summary = model.summarize(
            transcript(older), instructions=SUMMARY_INSTRUCTIONS, max_output_tokens=target // 2
        )
        self._record(ThreadCompacted(**common, reason=reason, summary=summary))
        return True

    def compact_if_over(self, reason: str = "threshold") -> None:
        """Compact the history if the last run's input passed the threshold; never raises."""
        threshold = self._deps.token_threshold
        if not threshold or self._state.last_input_tokens <= threshold:
            return
        try:
            self.compact(reason)
        except ModelError as exc:
            log.warning("chat %s: history not compacted: %s", mask(self._state.chat), exc)

    def _finish(self, turn: TurnInFlight, outcome: str, error: str = "") -> None:
        log.info(
            "chat %s: turn %s finished: %s%s",
            mask(self._state.chat),
            turn.turn_id,
            outcome,
            f" ({error})" if error else "",
        )
        self._record(
            TurnFinished(chat=self._state.chat, turn_id=turn.turn_id, outcome=outcome, error=error)
        )
        self.compact_if_over()

    def _record(self, event: Event) -> None:
        self._record_all([event])

    def _record_all(self, events: Sequence[Event]) -> None:
        for written in self._deps.journal.append(events):
            self._state.apply(written)
        if self._on_change is not None:
            self._on_change()
