"""When a burst of guest messages becomes one turn: the buffering rule, without threads.

A burst closes after ``window`` seconds of quiet since its last message, and never later
than ``max_wait`` seconds after its first one, whatever keeps arriving; ``max_messages``
closes it at once. While the guest is typing or recording, the burst is held open until
``typing_hold`` seconds after that presence, still within ``max_wait``; the hold is a
point in time, so a "typing" that never ends cannot hold a turn forever. The rule is pure
(times in, decision out), so it is tested with plain numbers and the chat actor only asks
it what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Buffer", "BufferPolicy"]


@dataclass(frozen=True)
class BufferPolicy:
    """The limits of a burst, in seconds and messages."""

    window: float
    max_wait: float
    max_messages: int
    typing_hold: float = 0.0


@dataclass
class Buffer:
    """The ids of guest messages waiting for a turn, and when their burst closes."""

    policy: BufferPolicy
    message_ids: list[str] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None
    held_until: float | None = None

    def add(self, message_id: str, now: float) -> None:
        """Add a message that arrived at ``now``."""
        if message_id in self.message_ids:
            return
        self.message_ids.append(message_id)
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def deadline(self) -> float | None:
        """Return when the burst closes, or ``None`` when it is empty."""
        if self.first_at is None or self.last_at is None:
            return None
        if len(self.message_ids) >= self.policy.max_messages:
            return self.last_at
        quiet = self.last_at + self.policy.window
        if self.held_until is not None:
            quiet = max(quiet, self.held_until)
        return min(quiet, self.first_at + self.policy.max_wait)

    def presence(self, status: str, now: float) -> bool:
        """Note the guest's presence; return whether it moved a waiting burst's deadline."""
        before = self.deadline()
        if status in ("typing", "recording"):
            self.held_until = now + self.policy.typing_hold
        else:
            self.held_until = None
        return before is not None and self.deadline() != before

    def due(self, now: float) -> bool:
        """Tell whether the burst is closed at ``now``."""
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def take(self) -> list[str]:
        """Empty the buffer and return the ids it held, oldest first."""
        taken = self.message_ids
        self.message_ids = []
        self.first_at = self.last_at = self.held_until = None
        return taken
