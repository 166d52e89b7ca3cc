"""A read-only window on the actor world for HTTP threads, which must never ask actors.

Only the supervisor writes it; HTTP threads read copies. Replacing whole values keeps
every read consistent without a lock (each assignment is atomic in CPython).
"""

from __future__ import annotations

from conserje.actors.messages import ChatStatus

__all__ = ["Board"]


class Board:
    """What the operators' views show: live actors and each chat's turn and queue."""

    def __init__(self) -> None:
        self.live_actors = 0
        self.chats_known = 0
        self._status: dict[str, ChatStatus] = {}

    def update(self, status: ChatStatus) -> None:
        """Record a chat's latest status (called by the supervisor only)."""
        current = dict(self._status)
        if status.turn_since is None and status.waiting == 0:
            current.pop(status.chat, None)
        else:
            current[status.chat] = status
        self._status = current

    def busy(self) -> dict[str, ChatStatus]:
        """Return the chats with a turn in flight or messages waiting."""
        return self._status
