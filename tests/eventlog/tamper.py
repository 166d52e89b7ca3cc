"""Tampering with snapshots the way a buggy writer would: changed, yet sealed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Change = Callable[[dict[str, Any]], None]


def reseal(path: Path, change: Change) -> None:
    """Apply ``change`` to a snapshot's JSON and seal the result as the writer does."""
    body, _, _ = path.read_bytes().rpartition(b"\n#blake2b:")
    snapshot = json.loads(body)
    change(snapshot)
    body = json.dumps(snapshot).encode()
    digest = hashlib.blake2b(body, digest_size=16).hexdigest().encode()
    path.write_bytes(body + b"\n#blake2b:" + digest + b"\n")


def break_chat(chat: str) -> Change:
    """Return a change that makes ``chat``'s encoded state undecodable."""

    def change(snapshot: dict[str, Any]) -> None:
        (stored,) = [s for s in snapshot["states"] if s["chat"] == chat]
        stored["state"]["history"] = "not a list"

    return change
