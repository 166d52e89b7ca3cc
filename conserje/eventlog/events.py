"""The journal's vocabulary: one msgspec struct per event type, as a tagged union.

Every event carries the same envelope: a global ``seq`` (strictly increasing), the
``chat`` it belongs to, that chat's ``version`` (contiguous from 1), the append time
``ts`` (Unix seconds) and the schema version ``v`` of its type. The journal assigns
``seq``, ``version`` and ``ts`` when it appends; code that creates an event leaves them
at their defaults. On disk an event is one JSON object whose ``type`` names it.

A turn's story reads as: ``message_received`` (one or more) -> ``turn_started`` ->
``run_started`` -> ``run_finished`` -> ``reply_sending`` / ``reply_sent`` per chunk ->
``turn_finished``. A run that asks for tools is followed by ``tool_called`` and
``tool_finished`` per call, then another ``run_started`` with their results.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

__all__ = [
    "EVENT_TYPES",
    "AgentMessage",
    "ContextReset",
    "Event",
    "HandoffEnded",
    "HandoffStarted",
    "InterimSent",
    "MediaFailed",
    "MediaRef",
    "MediaStored",
    "MediaTranscribed",
    "MessageReceived",
    "PresenceSubscribed",
    "ReplyRejected",
    "ReplySending",
    "ReplySent",
    "RunFinished",
    "RunRecovered",
    "RunRetried",
    "RunStarted",
    "ThreadCompacted",
    "ToolCall",
    "ToolCalled",
    "ToolFinished",
    "TurnFinished",
    "TurnHeld",
    "TurnStarted",
    "Usage",
    "VoiceFallback",
]


class Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True):
    """Fields every event has; subclasses add their own."""

    seq: int = 0
    chat: str
    version: int = 0
    ts: float = 0.0
    v: int = 1


class MediaRef(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Media a guest sent, as Whapi described it: ids and sizes, never the bytes.

    Attributes:
        kind: ``voice``, ``audio``, ``image`` or ``document``.
        id: Whapi's MediaID, fetched with ``GET /media/{id}``.
        mime: the content type Whapi gave.
        size: the size in bytes Whapi gave (0: unknown).
        link: the auto-download URL, when Whapi gave one.
        name: a document's file name.
        ready: set by the chat's projection (never journaled here) once a
            ``media_transcribed``, ``media_stored`` or ``media_failed`` says how the
            media turned out; ``transcript``, ``file`` and ``note`` come from it.
    """

    kind: str
    id: str
    mime: str = ""
    size: int = 0
    link: str = ""
    name: str = ""
    ready: bool = False
    transcript: str = ""
    file: str = ""
    note: str = ""


class MessageReceived(Event, tag="message_received", kw_only=True):
    """A guest's message, accepted from a webhook and waiting for a turn.

    Attributes:
        message_id: Whapi's id of the message (the key for deduplication).
        sender: the guest's WhatsApp display name, if any.
        text: what the guest wrote (a media message's caption).
        sent_at: when WhatsApp says it was sent (Unix seconds).
        quoted: the text of the message the guest replied to, if any.
        media: the voice note, image or document the message carries, if any.
    """

    message_id: str
    sender: str = ""
    text: str
    sent_at: int = 0
    quoted: str = ""
    media: MediaRef | None = None


class MediaTranscribed(Event, tag="media_transcribed", kw_only=True):
    """A guest's voice note was fetched, stored and transcribed.

    Attributes:
        message_id: the ``message_received`` it belongs to.
        transcript: what the guest said, as the model reads it.
        file: the stored audio's file name under the data dir's ``media`` folder.
        size: the audio's size in bytes.
        sha256: the audio's SHA-256, hex.
        model: the transcription model.
    """

    message_id: str
    transcript: str
    file: str
    size: int
    sha256: str
    model: str


class MediaStored(Event, tag="media_stored", kw_only=True):
    """A guest's image or document was fetched and stored, ready for the model.

    Attributes:
        message_id: the ``message_received`` it belongs to.
        file: the stored file's name under the data dir's ``media`` folder.
        mime: the stored file's content type.
        size: the stored file's size in bytes.
        sha256: the stored file's SHA-256, hex.
        downscaled: the image was larger than allowed and was made smaller.
    """

    message_id: str
    file: str
    mime: str
    size: int
    sha256: str
    downscaled: bool = False


class MediaFailed(Event, tag="media_failed", kw_only=True):
    """A guest's media could not be used; the turn reads ``note`` in its place.

    Attributes:
        message_id: the ``message_received`` it belongs to.
        stage: ``download``, ``transcription``, ``image`` or ``document``.
        error: what went wrong, for operators.
        timed_out: the stage ran out of ``MEDIA_TIMEOUT_MS``.
        note: what the model is told instead, e.g. "the guest sent a voice note that
            could not be transcribed".
    """

    message_id: str
    stage: str
    error: str
    note: str
    timed_out: bool = False


class TurnStarted(Event, tag="turn_started", kw_only=True):
    """A turn took these waiting messages; each message is consumed by one turn."""

    turn_id: str
    message_ids: list[str]


class RunStarted(Event, tag="run_started", kw_only=True):
    """The model accepted a request; ``response_id`` lets boot find it after a crash."""

    turn_id: str
    response_id: str
    model: str
    background: bool


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """A function call the model asked for; ``arguments`` is the JSON it wrote."""

    call_id: str
    name: str
    arguments: str


class RunRetried(Event, tag="run_retried", kw_only=True):
    """Starting a run was refused and is tried again.

    Attributes:
        ambiguous: the failure (a 5xx, a lost connection) leaves open whether the
            server started a run anyway; such a run would finish unpolled, and this
            line is how an auditor knows it may exist.
    """

    turn_id: str
    attempt: int
    error: str
    ambiguous: bool


class RunRecovered(Event, tag="run_recovered", kw_only=True):
    """What boot found of a run a crash interrupted, and what it did.

    Attributes:
        outcome: ``completed`` (its answer is delivered), ``adopted`` (still running,
            polled again), ``cancelled`` (still running, cancelled by policy, the turn
            runs again), ``failed`` or ``gone`` (the turn runs again), ``rerun`` (a
            foreground run cannot be found again; the turn runs again).
    """

    turn_id: str
    response_id: str
    outcome: str


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens a run used; ``cached_tokens`` is the part of the input served from cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


class RunFinished(Event, tag="run_finished", kw_only=True):
    """The model's run reached an end state.

    Attributes:
        status: the Responses API status (``completed``, ``failed``, ``cancelled``,
            ``incomplete``), or ``error`` when no response could be had at all.
        text: the reply text (empty unless completed).
        usage: the tokens the run used (schema v2; v1 had flat ``input_tokens`` and
            ``output_tokens``, upcast on read by :mod:`conserje.eventlog.upcast`).
        calls: the tools the model asked to call before it answers.
        recovered: the answer was retrieved at boot after a crash.
    """

    v: int = 2

    turn_id: str
    response_id: str = ""
    status: str
    text: str = ""
    usage: Usage = msgspec.field(default_factory=Usage)
    error: str = ""
    calls: list[ToolCall] = msgspec.field(default_factory=list)
    recovered: bool = False


class ToolCalled(Event, tag="tool_called", kw_only=True):
    """A tool call is about to run: journaled first, so it runs at most once."""

    turn_id: str
    call_id: str
    name: str
    arguments: str


class ToolFinished(Event, tag="tool_finished", kw_only=True):
    """A tool call's result, as sent back to the model.

    Attributes:
        ok: the tool ran and returned a result.
        output: the JSON the model receives (a result or ``{"error": ...}``).
        error: the error type, or ``""``; ``interrupted`` when a restart came between
            the call and its result, which is then never run again.
    """

    turn_id: str
    call_id: str
    name: str
    ok: bool
    output: str
    error: str = ""
    duration_ms: int = 0


class InterimSent(Event, tag="interim_sent", kw_only=True):
    """A "let me check..." message sent to the guest while a slow tool ran."""

    turn_id: str
    call_id: str
    whapi_id: str
    text: str


class HandoffStarted(Event, tag="handoff_started", kw_only=True):
    """The assistant stops answering this chat until ``until`` (Unix seconds).

    Attributes:
        by: ``assistant`` (it escalated), ``agent`` (a person wrote from the
            business phone) or ``admin``.
    """

    by: str
    until: float
    reason: str = ""
    summary: str = ""
    urgency: str = ""


class HandoffEnded(Event, tag="handoff_ended", kw_only=True):
    """The assistant answers this chat again (an admin resumed it)."""

    by: str


class AgentMessage(Event, tag="agent_message", kw_only=True):
    """A person wrote to the guest from the business phone; it enters the history."""

    message_id: str
    text: str
    sent_at: int = 0


class TurnHeld(Event, tag="turn_held", kw_only=True):
    """The guest is typing or recording: the waiting burst is held open until ``until``."""

    status: str
    until: float


class PresenceSubscribed(Event, tag="presence_subscribed", kw_only=True):
    """Whapi now reports this guest's typing; done once per chat, remembered across restarts."""


class ThreadCompacted(Event, tag="thread_compacted", kw_only=True):
    """The chat's history was compacted: older items replaced by something shorter.

    Attributes:
        summary: the model's summary of the replaced items, readable by auditors
            (``method`` ``summary``).
        kept: the most recent history items kept verbatim after the summary.
        tokens_before: the input size of the last run, which triggered it.
        reason: ``threshold`` (after a turn), ``sweep`` (the periodic sweep) or
            ``context_length_exceeded``.
        method: ``summary`` (written by the model) or ``server`` (the server's
            ``/responses/compact``).
        items: with ``server``, the input items that replace the older history: the
            guest's messages, readable, and one opaque ``compaction`` item.
    """

    summary: str = ""
    kept: int
    tokens_before: int
    reason: str
    method: str = "summary"
    items: list[dict[str, Any]] = msgspec.field(default_factory=list)


class ContextReset(Event, tag="context_reset", kw_only=True):
    """An admin cleared the chat's history: the next turn starts fresh."""

    by: str


class ReplyRejected(Event, tag="reply_rejected", kw_only=True):
    """A business's validator turned a reply down; the model gets one corrective retry.

    Attributes:
        validator: the entry point name of the validator.
        instruction: what the retry is told; it never enters the stored history.
        reply: the reply that was turned down (never sent).
    """

    turn_id: str
    validator: str
    instruction: str
    reply: str


class ReplySending(Event, tag="reply_sending", kw_only=True):
    """About to send chunk ``chunk`` of a turn's reply: the intent, before the call.

    Attributes:
        audio: the voice note's file name under the data dir's ``audio`` folder when
            the chunk is spoken (the whole reply, as one voice note); ``""`` for text.
    """

    turn_id: str
    chunk: int
    text: str
    audio: str = ""


class ReplySent(Event, tag="reply_sent", kw_only=True):
    """Whapi accepted chunk ``chunk``; ``whapi_id`` is how its echo is recognised.

    Attributes:
        reconciled: the send was confirmed after a crash from Whapi's message list
            rather than from the send call's answer.
        audio: the voice note's file name when the chunk went out spoken.
    """

    turn_id: str
    chunk: int
    whapi_id: str
    text: str
    reconciled: bool = False
    audio: str = ""


class VoiceFallback(Event, tag="voice_fallback", kw_only=True):
    """A reply to a voice note goes out as text instead of speech.

    Attributes:
        reason: ``withheld`` (it names prices, amounts, links, phone numbers or codes,
            or is too long to speak) or ``failed`` (speech could not be made, was not
            Ogg/Opus, or Whapi refused the voice note).
        error: what failed, for operators (``""`` when withheld).
    """

    turn_id: str
    reason: str
    error: str = ""


class TurnFinished(Event, tag="turn_finished", kw_only=True):
    """A turn ended: ``replied``, ``empty`` (nothing worth sending) or ``failed``."""

    turn_id: str
    outcome: str
    error: str = ""


EVENT_TYPES: tuple[type[Event], ...] = (
    MessageReceived,
    AgentMessage,
    TurnStarted,
    RunStarted,
    RunRetried,
    RunRecovered,
    RunFinished,
    ToolCalled,
    ToolFinished,
    InterimSent,
    ReplySending,
    ReplySent,
    TurnFinished,
    HandoffStarted,
    HandoffEnded,
    TurnHeld,
    PresenceSubscribed,
    ThreadCompacted,
    ContextReset,
    ReplyRejected,
    MediaTranscribed,
    MediaStored,
    MediaFailed,
    VoiceFallback,
)

AnyEvent = Union[EVENT_TYPES]  # type: ignore[valid-type]  # noqa: UP007 - built from the tuple
"""The tagged union msgspec decodes a journal line into; derived, never listed twice."""
