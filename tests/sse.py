"""Reading server-sent events in tests, as a browser's EventSource reads them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One event of the stream; ``event`` is ``message`` unless the stream named it."""

    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse(text: str) -> tuple[list[Message], list[str]]:
    """Return the complete messages in ``text`` and its comment lines (heartbeats)."""
    messages, comments = [], []
    for block in text.split("\n\n")[:-1]:
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if "data" in fields:
            messages.append(
                Message(
                    fields["id"][-1] if "id" in fields else None,
                    fields.get("event", ["message"])[-1],
                    "\n".join(fields["data"]),
                )
            )
    return messages, comments
