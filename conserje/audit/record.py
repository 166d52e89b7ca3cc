"""An event as a JSON record for screens: where it sits, its story line, and its fields."""

from __future__ import annotations

from typing import Any

import msgspec

from conserje.audit.narrate import narrate
from conserje.audit.vocabulary import type_name
from conserje.eventlog.events import Event

__all__ = ["story_record"]

# The envelope is given once at the top of a record; ``type`` is the tag msgspec adds.
_NOT_FIELDS = frozenset({*Event.__struct_fields__, "type"})


def story_record(event: Event) -> dict[str, Any]:
    """Return ``event`` as the dashboard and the timeline show it.

    The record holds ``seq``, ``ts``, ``chat`` and ``type``; ``who`` acted and ``story``,
    the line ``conserje log show`` prints for it; and ``fields``, the event's own fields
    as JSON values (the chat id is not masked: these records are for operators).
    """
    who, story = narrate(event)
    fields = {k: v for k, v in msgspec.to_builtins(event).items() if k not in _NOT_FIELDS}
    return {
        "seq": event.seq,
        "ts": event.ts,
        "chat": event.chat,
        "type": type_name(event),
        "who": who,
        "story": story,
        "fields": fields,
    }
