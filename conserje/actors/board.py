"""A read-only window on the actor world for HTTP threads, which must never ask actors.

Only the supervisor writes it, in place and under a short lock, so a status change costs
the same with ten busy chats as with ten thousand; readers get a copy (:meth:`Board.busy`)
or one chat's status (:meth:`Board.status`).
"""

from __future__ import annotations

import threading

from conserje.actors.messages import ChatStatus

__all__ = ["Board"]


class Board:
    """What the operators' views show: live actors and each chat's turn, queue and pause."""

    def __init__(self) -> None:
        self.live_actors = 0
        self.chats_known = 0
        self._lock = threading.Lock()
        self._status: dict[str, ChatStatus] = {}
        self._paused: dict[str, float] = {}

    def update(self, status: ChatStatus, now: float = 0.0) -> None:
        """Record a chat's latest status at ``now`` (called by the supervisor only)."""
        with self._lock:
            if status.turn_since is None and status.waiting == 0:
                self._status.pop(status.chat, None)
            else:
                self._status[status.chat] = status
            if status.paused_until > now:
                self._paused[status.chat] = status.paused_until
            else:
                self._paused.pop(status.chat, None)

    def status(self, chat: str) -> ChatStatus | None:
        """Return one chat's status, or ``None`` when it has no turn and nothing waiting."""
        return self._status.get(chat)

    def paused(self, now: float) -> dict[str, float]:
        """Return the chats a hand-off keeps quiet at ``now``, with when the pause ends."""
        with self._lock:
            # Pauses that ended are dropped here, so the map holds only chats paused now.
            for chat in [c for c, until in self._paused.items() if until <= now]:
                del self._paused[chat]
            return dict(self._paused)

    def busy(self) -> dict[str, ChatStatus]:
        """Return a copy of the chats with a turn in flight or messages waiting."""
        with self._lock:
            return dict(self._status)
