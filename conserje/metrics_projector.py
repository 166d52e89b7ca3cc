"""Metrics derived from the journal: each durable batch of events moves the metrics it means.

The journal's writer thread calls :meth:`MetricsProjector.observe` after every group
commit, so a metric moves exactly when, and only if, the journal says something
happened. Counters start at zero in each process: the journal is not re-counted at boot
(Prometheus treats a counter that goes back to zero as a restart), but the one gauge that
describes chats (``high_token_threads``) is seeded from the restored projections.

Latencies pair a step's start with its end by turn id. What is remembered per turn is
bounded in count and in age, so turns that never end in this process cannot grow it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conserje.eventlog.events import (
    AgentMessage,
    ContextReset,
    Event,
    HandoffStarted,
    MediaFailed,
    MediaStored,
    MediaTranscribed,
    MessageReceived,
    MessagesQuarantined,
    ReplySending,
    ReplySent,
    RunFinished,
    RunRecovered,
    RunRetried,
    RunStarted,
    ThreadCompacted,
    ToolFinished,
    TurnFinished,
    TurnStarted,
    VoiceFallback,
)
from conserje.eventlog.jsonl import AppendedBatch
from conserje.metrics import HIGH_TOKEN_CHATS_LIMIT, Metrics

__all__ = ["OTHER_TOOL", "TURN_MARKS_LIMIT", "TURN_MARKS_MAX_AGE", "MetricsProjector"]

TURN_MARKS_LIMIT = 10_000
"""Most turns remembered at once; the oldest is forgotten first."""

TURN_MARKS_MAX_AGE = 3600.0
"""Seconds after which a turn not yet finished is forgotten (its latency not observed)."""

OTHER_TOOL = "other"
"""The ``tool`` label of calls to names no registered tool has (the model invents some)."""


@dataclass
class _TurnMarks:
    """What a turn in flight has shown so far, for the metrics its end will move."""

    seen: float
    started: float | None = None
    run_started: float | None = None
    unconfirmed: int = 0


class MetricsProjector:
    """Turns journaled events into metric updates; the journal's ``on_append`` observer.

    Only the journal's writer thread calls :meth:`observe`; :meth:`restored` is called
    before that thread starts. So the state here has a single writer and needs no lock.

    Args:
        metrics: where the updates go.
        token_threshold: ``THREAD_TOKEN_THRESHOLD`` (``0``: never compacted, never high).
        tool_names: every tool the model is offered; other names are labelled ``other``.
    """

    def __init__(
        self, metrics: Metrics, *, token_threshold: int, tool_names: Iterable[str]
    ) -> None:
        self._metrics = metrics
        self._threshold = token_threshold
        self._tools = frozenset(tool_names)
        self._turns: dict[str, _TurnMarks] = {}
        self._high: set[str] = set()

    def restored(self, input_tokens: Iterable[tuple[str, int]]) -> None:
        """Seed ``high_token_threads`` from the chats restored at boot.

        Args:
            input_tokens: each chat with its ``last_input_tokens``
                (:meth:`~conserje.eventlog.states.ChatStates.input_tokens`).
        """
        for chat, tokens in input_tokens:
            self._input_tokens(chat, tokens)

    def observe(self, batch: AppendedBatch) -> None:
        """Move the metrics for one durable batch of the journal."""
        self._metrics.journal_append_seconds.observe(batch.seconds)
        if batch.sync_seconds is not None:
            self._metrics.journal_fsync_seconds.observe(batch.sync_seconds)
        for event in batch.events:
            self._event(event)

    def _event(self, event: Event) -> None:
        m = self._metrics
        match event:
            case MessageReceived():
                m.messages_received.labels("guest_media" if event.media else "guest_text").inc()
            case MediaTranscribed() | MediaStored() | MediaFailed() | VoiceFallback():
                self._media(event)
            case AgentMessage():
                m.messages_received.labels("agent").inc()
            case RunRetried():
                m.model_run_retries.labels(str(event.ambiguous).lower()).inc()
            case RunRecovered():
                m.orphaned_runs_recovered.labels(event.outcome).inc()
            case ToolFinished():
                tool = event.name if event.name in self._tools else OTHER_TOOL
                m.tool_calls.labels(tool, "ok" if event.ok else event.error or "error").inc()
            case HandoffStarted():
                m.handoffs.labels(event.by).inc()
            case ThreadCompacted():
                m.token_cleanups.inc()
                self._forget_high(event.chat)
            case ContextReset():
                self._forget_high(event.chat)
            case MessagesQuarantined():
                m.quarantined_messages.inc(len(event.message_ids))
                self._turns.pop(event.turn_id, None)
            case _:
                self._turn_step(event)

    def _media(self, event: Event) -> None:
        """Count a guest's media fetched and transcribed, and replies not spoken."""
        m = self._metrics
        match event:
            case MediaTranscribed():
                m.media_downloads.labels("ok").inc()
                m.media_transcriptions.labels("ok").inc()
            case MediaStored():
                m.media_downloads.labels("ok").inc()
            case MediaFailed(stage="download"):
                m.media_downloads.labels("timeout" if event.timed_out else "failed").inc()
            case MediaFailed(stage="transcription"):
                m.media_downloads.labels("ok").inc()
                m.media_transcriptions.labels("timeout" if event.timed_out else "failed").inc()
            case MediaFailed(stage="image"):
                m.media_downloads.labels("ok").inc()
            case VoiceFallback():
                m.voice_replies.labels(event.reason).inc()

    def _turn_step(self, event: Event) -> None:
        """Follow a turn from its start to its end, for the metrics its end moves."""
        match event:
            case TurnStarted():
                self._marks(event.turn_id, event.ts).started = event.ts
            case RunStarted():
                self._marks(event.turn_id, event.ts).run_started = event.ts
            case RunFinished():
                self._run_finished(event)
            case ReplySending():
                self._marks(event.turn_id, event.ts).unconfirmed += 1
            case ReplySent():
                self._metrics.reply_chunks_sent.inc()
                if event.audio:
                    self._metrics.voice_replies.labels("sent").inc()
                marks = self._turns.get(event.turn_id)
                if marks is not None and marks.unconfirmed:
                    marks.unconfirmed -= 1
            case TurnFinished():
                self._turn_finished(event)

    def _run_finished(self, event: RunFinished) -> None:
        m = self._metrics
        m.model_runs.labels(event.status).inc()
        usage = event.usage
        m.model_tokens.labels("input").inc(usage.input_tokens)
        m.model_tokens.labels("output").inc(usage.output_tokens)
        m.model_tokens.labels("cached").inc(usage.cached_tokens)
        marks = self._turns.get(event.turn_id)
        if marks is not None and marks.run_started is not None:
            m.model_run_seconds.observe(event.ts - marks.run_started)
            # The next run of the turn (after its tools) is timed from its own start.
            marks.run_started = None
        self._input_tokens(event.chat, usage.input_tokens)

    def _turn_finished(self, event: TurnFinished) -> None:
        m = self._metrics
        m.turns.labels(event.outcome).inc()
        if event.outcome == "fallback":
            m.fallbacks.inc()
        marks = self._turns.pop(event.turn_id, None)
        if marks is None:
            return
        if marks.started is not None:
            m.turn_seconds.labels(event.outcome).observe(event.ts - marks.started)
        if marks.unconfirmed:
            m.reply_chunks_failed.inc(marks.unconfirmed)

    def _marks(self, turn_id: str, ts: float) -> _TurnMarks:
        """Return a turn's marks, remembering it (and forgetting the oldest) if new."""
        marks = self._turns.get(turn_id)
        if marks is not None:
            return marks
        # Dicts keep insertion order, so the first entry is the turn seen longest ago.
        while self._turns:
            oldest_id, oldest = next(iter(self._turns.items()))
            if len(self._turns) < TURN_MARKS_LIMIT and oldest.seen >= ts - TURN_MARKS_MAX_AGE:
                break
            del self._turns[oldest_id]
        marks = self._turns[turn_id] = _TurnMarks(seen=ts)
        return marks

    def _input_tokens(self, chat: str, tokens: int) -> None:
        """Follow whether ``chat`` is over the threshold after a run that used ``tokens``."""
        if not tokens:
            # As in the chat's projection, a run that reports no usage changes nothing.
            return
        if self._threshold and tokens > self._threshold:
            if len(self._high) < HIGH_TOKEN_CHATS_LIMIT:
                self._high.add(chat)
        else:
            self._high.discard(chat)
        self._metrics.high_token_threads.set(len(self._high))

    def _forget_high(self, chat: str) -> None:
        self._high.discard(chat)
        self._metrics.high_token_threads.set(len(self._high))
