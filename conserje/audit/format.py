"""How the audit commands write times, sizes and texts for a person to read."""

from __future__ import annotations

import json
from datetime import datetime

__all__ = ["local_time", "plural", "quoted", "size"]

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def local_time(ts: float) -> str:
    """Return Unix time ``ts`` as local ISO time to the second, with its UTC offset."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def size(n: int) -> str:
    """Return a byte count the way a person reads it: ``512 bytes``, ``3.4 KiB``."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def quoted(text: str) -> str:
    """Return ``text`` in double quotes on one line (newlines escaped), as JSON writes it."""
    return json.dumps(text, ensure_ascii=False)


def plural(n: int, noun: str) -> str:
    """Return ``n`` and ``noun``, with an ``s`` unless ``n`` is 1: ``1 event``, ``3 events``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
