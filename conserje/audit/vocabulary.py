"""The event types the audit commands know, read from the journal's own vocabulary."""

from __future__ import annotations

from conserje.eventlog.events import EVENT_TYPES, Event

__all__ = ["type_name", "type_names"]


def type_name(event: Event | type[Event]) -> str:
    """Return the ``type`` an event (or event class) has on disk, e.g. ``message_received``."""
    cls = event if isinstance(event, type) else type(event)
    return str(cls.__struct_config__.tag)


def type_names() -> list[str]:
    """Return every event type of the vocabulary, in the order a turn goes through them."""
    return [type_name(cls) for cls in EVENT_TYPES]
