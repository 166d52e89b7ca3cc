"""Each event told in words: who acted, and what happened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from conserje.audit.format import plural, quoted
from conserje.audit.vocabulary import type_name
from conserje.eventlog import events as ev

__all__ = ["has_story", "narrate"]

_ENVELOPE = frozenset(ev.Event.__struct_fields__)

Story = Callable[[Any], tuple[str, str]]

_MODE = {True: "background", False: "foreground"}


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="minutes")


def has_story(event_type: type) -> bool:
    """Tell whether an event type has its own wording (rather than the generic one)."""
    return event_type in _STORIES


def _run_finished(event: ev.RunFinished) -> tuple[str, str]:
    what = f"run finished: {event.status}"
    usage = event.usage
    if usage.input_tokens or usage.output_tokens:
        what += f", {usage.input_tokens} in / {usage.output_tokens} out tokens"
        if usage.cached_tokens:
            what += f" ({usage.cached_tokens} cached)"
    if event.calls:
        what += ", asks for " + ", ".join(f"{c.name}({c.arguments})" for c in event.calls)
    if event.error:
        what += f" ({event.error})"
    if event.recovered:
        what += " (retrieved after a crash)"
    return "assistant", what


def _tool_finished(event: ev.ToolFinished) -> tuple[str, str]:
    result = "ok" if event.ok else f"failed: {event.error}"
    return "system", f"tool {event.name} {result} in {event.duration_ms} ms: {quoted(event.output)}"


def _handoff(event: ev.HandoffStarted) -> tuple[str, str]:
    what = f"hand-off: the assistant stays quiet until {_when(event.until)}"
    if event.reason:
        what += f": {event.reason} ({event.urgency or 'normal'})"
    return event.by, what


def _turn_finished(event: ev.TurnFinished) -> tuple[str, str]:
    what = f"turn {event.turn_id} finished: {event.outcome}"
    return "system", what + (f" ({event.error})" if event.error else "")


_STORIES: dict[type, Story] = {
    ev.MessageReceived: lambda e: (
        "guest",
        (f"sent a {e.media.kind} ({e.media.mime or 'unknown type'})" if e.media else "")
        + (" " if e.media and e.text else "")
        + (quoted(e.text) if e.text or not e.media else "")
        + (f" (from {e.sender})" if e.sender else "")
        + (f" replying to {quoted(e.quoted)}" if e.quoted else ""),
    ),
    ev.AgentMessage: lambda e: ("agent", quoted(e.text)),
    ev.TurnStarted: lambda e: (
        "system",
        f"turn {e.turn_id} started with {plural(len(e.message_ids), 'message')}",
    ),
    ev.TurnHeld: lambda e: ("guest", f"is {e.status}: the turn waits until {_when(e.until)}"),
    ev.RunStarted: lambda e: (
        "assistant",
        f"run {e.response_id} started ({e.model}, {_MODE[e.background]})",
    ),
    ev.RunRetried: lambda e: (
        "system",
        f"run refused ({e.error}), trying again (attempt {e.attempt + 1})"
        + (": the server may have started a run anyway" if e.ambiguous else ""),
    ),
    ev.RunRecovered: lambda e: ("system", f"interrupted run {e.response_id}: {e.outcome}"),
    ev.RunFinished: _run_finished,
    ev.ToolCalled: lambda e: ("assistant", f"tool {e.name} called with {e.arguments}"),
    ev.ToolFinished: _tool_finished,
    ev.InterimSent: lambda e: (
        "assistant",
        f"interim message sent as {e.whapi_id}: {quoted(e.text)}",
    ),
    ev.ReplyRejected: lambda e: (
        "system",
        f"reply {quoted(e.reply)} turned down by {e.validator}: {e.instruction}",
    ),
    ev.ReplySending: lambda e: (
        "assistant",
        f"reply chunk {e.chunk + 1} sending: {quoted(e.text)}",
    ),
    ev.ReplySent: lambda e: (
        "assistant",
        f"reply chunk {e.chunk + 1} sent as {e.whapi_id}"
        + (f" (voice note {e.audio})" if e.audio else "")
        + (" (confirmed after a crash)" if e.reconciled else ""),
    ),
    ev.TurnFinished: _turn_finished,
    ev.HandoffStarted: _handoff,
    ev.HandoffEnded: lambda e: (e.by, "assistant resumed"),
    ev.ThreadCompacted: lambda e: ("system", _compaction(e)),
    ev.ContextReset: lambda e: (e.by, "context reset: the next turn starts afresh"),
    ev.PresenceSubscribed: lambda e: ("system", "subscribed to the guest's typing"),
    ev.MediaTranscribed: lambda e: (
        "system",
        f"voice note transcribed ({e.model}, {e.size} bytes as {e.file}): {quoted(e.transcript)}",
    ),
    ev.MediaStored: lambda e: (
        "system",
        f"{e.mime} stored as {e.file} ({e.size} bytes" + (", downscaled)" if e.downscaled else ")"),
    ),
    ev.MediaFailed: lambda e: ("system", f"media not usable ({e.stage}: {e.error}): {e.note}"),
    ev.VoiceFallback: lambda e: (
        "assistant",
        f"reply goes as text instead of a voice note: {e.reason}"
        + (f" ({e.error})" if e.error else ""),
    ),
}


def _compaction(event: ev.ThreadCompacted) -> str:
    head = (
        f"history compacted ({event.reason}, {event.tokens_before} tokens): kept {event.kept} items"
    )
    if event.method != "server":
        return f"{head}, summary {quoted(event.summary)}"
    readable = sum(1 for item in event.items if item.get("type") != "compaction")
    return (
        f"{head}; the model server compacted the rest: {readable} guest messages kept "
        "readable, the remainder in an opaque compaction item"
    )


def narrate(event: ev.Event) -> tuple[str, str]:
    """Return who acted (``guest``, ``assistant``, ``agent``, ``admin`` or ``system``) and what.

    An event type without its own wording here (a newer one) is told generically: its
    type and its fields, by whoever its ``by`` field names, else ``system``. Reply
    chunks are counted from 1, as a person counts them; the ``chunk`` field counts from 0.
    """
    story = _STORIES.get(type(event))
    if story is not None:
        return story(event)
    return str(getattr(event, "by", "") or "system"), _generic(event)


def _generic(event: ev.Event) -> str:
    fields = {k: v for k, v in msgspec.structs.asdict(event).items() if k not in _ENVELOPE}
    details = " ".join(f"{k}={msgspec.json.encode(v).decode()}" for k, v in fields.items())
    return f"{type_name(event)} {details}".rstrip()
