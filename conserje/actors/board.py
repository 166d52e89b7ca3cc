"""A read-only window on the actor world for HTTP threads, which must never ask actors.

Only the supervisor writes it; HTTP threads read copies. Replacing whole values keeps
every read consistent without a lock (each assignment is atomic in CPython).
"""

from __future__ import annotations

from conserje.actors.messages import ChatStatus

__all__ = ["Board"]


class Board:
    """What the operators' views show: live actors and each chat's turn, queue and pause."""

    def __init__(self) -> None:
        self.live_actors = 0
        self.chats_known = 0
        self._status: dict[str, ChatStatus] = {}
        self._paused: dict[str, float] = {}

    def update(self, status: ChatStatus, now: float = 0.0) -> None:
        """Record a chat's latest status at ``now`` (called by the supervisor only)."""
        current = dict(self._status)
        if status.turn_since is None and status.waiting == 0:
            current.pop(status.chat, None)
        else:
            current[status.chat] = status
        self._status = current
        # Pauses that ended are dropped here, so the map holds only chats paused now.
        paused = {chat: until for chat, until in self._paused.items() if until > now}
        if status.paused_until > now:
            paused[status.chat] = status.paused_until
        else:
            paused.pop(status.chat, None)
        self._paused = paused

    def paused(self, now: float) -> dict[str, float]:
        """Return the chats a hand-off keeps quiet at ``now``, with when the pause ends."""
        return {chat: until for chat, until in self._paused.items() if until > now}

    def busy(self) -> dict[str, ChatStatus]:
        """Return the chats with a turn in flight or messages waiting."""
        return self._status
