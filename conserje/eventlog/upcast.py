"""Reading old journal lines as today's events: one upcaster per schema step.

A line keeps the schema version ``v`` it was written with, and its seal covers those
bytes, so old lines are never rewritten. When a line's ``v`` is older than its type's
current version, its raw JSON goes through the upcasters from that version to the
current one before it becomes an event.

To change an event's shape: raise its ``v`` default in :mod:`conserje.eventlog.events`,
add an upcaster here from the previous version, and a test that reads an old line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from conserje.eventlog.events import EVENT_TYPES

__all__ = ["CURRENT", "UPCASTERS", "upcast"]

Raw = dict[str, Any]


def _current_versions() -> dict[str, int]:
    versions = {}
    for cls in EVENT_TYPES:
        (v,) = [f.default for f in msgspec.structs.fields(cls) if f.name == "v"]
        versions[str(cls.__struct_config__.tag)] = int(v)
    return versions


CURRENT: dict[str, int] = _current_versions()
"""Each event type's current schema version, from the structs' ``v`` defaults."""


def _run_finished_1_to_2(raw: Raw) -> Raw:
    """v2 groups the token counts into ``usage``, adding cached tokens (0 when unknown)."""
    raw["usage"] = {
        "input_tokens": raw.pop("input_tokens", 0),
        "output_tokens": raw.pop("output_tokens", 0),
    }
    return raw


UPCASTERS: dict[tuple[str, int], Callable[[Raw], Raw]] = {
    ("run_finished", 1): _run_finished_1_to_2,
}
"""``(type, from_version) -> function`` producing the raw event of ``from_version + 1``."""


def upcast(raw: Raw) -> Raw:
    """Bring a raw event up to its type's current version.

    Raises:
        ValueError: the type is unknown, the version is newer than this code knows, or
            a step has no upcaster.
    """
    kind = raw.get("type")
    version = raw.get("v", 1)
    if kind not in CURRENT or not isinstance(version, int):
        raise ValueError(f"unknown event type {kind!r}")
    if version > CURRENT[kind]:
        raise ValueError(
            f"{kind} v{version} is newer than this Conserje (v{CURRENT[kind]}): upgrade it"
        )
    while version < CURRENT[kind]:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise ValueError(f"no upcaster for {kind} v{version}")
        raw = step(raw)
        version += 1
    raw["v"] = version
    return raw
