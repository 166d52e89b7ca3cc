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
    """What the operators' views show: live actors and each chat's turn and queue."""

    def __init__(self) -> None:
        self.live_actors = 0
        self.chats_known = 0
        self._lock = threading.Lock()
        self._status: dict[str, ChatStatus] = {}

    def update(self, status: ChatStatus) -> None:
        """Record a chat's latest status (called by the supervisor only)."""
        with self._lock:
            if status.turn_since is None and status.waiting == 0:
                self._status.pop(status.chat, None)
            else:
                self._status[status.chat] = status

    def status(self, chat: str) -> ChatStatus | None:
        """Return one chat's status, or ``None`` when it has no turn and nothing waiting."""
        return self._status.get(chat)

    def busy(self) -> dict[str, ChatStatus]:
        """Return a copy of the chats with a turn in flight or messages waiting."""
        with self._lock:
            return dict(self._status)
