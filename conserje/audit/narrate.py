"""Each event told in words: who acted, and what happened."""

from __future__ import annotations

import msgspec

from conserje.audit.format import plural, quoted
from conserje.audit.vocabulary import type_name
from conserje.eventlog.events import (
    Event,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    TurnFinished,
    TurnStarted,
)

__all__ = ["narrate"]

_ENVELOPE = frozenset(Event.__struct_fields__)

# Who acts in the event types told generically, when the event itself does not say (``by``).
_ACTORS = {"agent_message": "agent", "tool_called": "assistant", "interim_sent": "assistant"}


def narrate(event: Event) -> tuple[str, str]:
    """Return who acted (``guest``, ``assistant``, ``agent`` or ``system``) and what happened.

    An event type without its own wording here (a newer one) is told generically: its
    type and its fields, by whoever its ``by`` field names, else ``system``. Reply
    chunks are counted from 1, as a person counts them; the ``chunk`` field counts from 0.
    """
    match event:
        case MessageReceived(text=text, sender=sender):
            told = "guest", quoted(text) + (f" (from {sender})" if sender else "")
        case TurnStarted(turn_id=turn, message_ids=ids):
            told = "system", f"turn {turn} started with {plural(len(ids), 'message')}"
        case RunStarted(response_id=response, model=model, background=background):
            mode = "background" if background else "foreground"
            told = "assistant", f"run {response} started ({model}, {mode})"
        case RunFinished():
            told = "assistant", _run_finished(event)
        case ReplySending(chunk=chunk, text=text):
            told = "assistant", f"reply chunk {chunk + 1} sending: {quoted(text)}"
        case ReplySent(chunk=chunk, whapi_id=whapi_id, reconciled=reconciled):
            after_crash = " (confirmed after a crash)" if reconciled else ""
            told = "assistant", f"reply chunk {chunk + 1} sent as {whapi_id}{after_crash}"
        case TurnFinished(turn_id=turn, outcome=outcome, error=error):
            told = "system", f"turn {turn} finished: {outcome}" + (f" ({error})" if error else "")
        case _:
            who = getattr(event, "by", "") or _ACTORS.get(type_name(event), "system")
            told = str(who), _generic(event)
    return told


def _run_finished(event: RunFinished) -> str:
    what = f"run finished: {event.status}"
    usage = event.usage
    if usage.input_tokens or usage.output_tokens:
        what += f", {usage.input_tokens} in / {usage.output_tokens} out tokens"
        if usage.cached_tokens:
            what += f" ({usage.cached_tokens} cached)"
    if event.error:
        what += f" ({event.error})"
    if event.recovered:
        what += " (retrieved after a crash)"
    return what


def _generic(event: Event) -> str:
    fields = {k: v for k, v in msgspec.structs.asdict(event).items() if k not in _ENVELOPE}
    details = " ".join(f"{k}={msgspec.json.encode(v).decode()}" for k, v in fields.items())
    return f"{type_name(event)} {details}".rstrip()
