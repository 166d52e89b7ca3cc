"""Conserje's exceptions, all in one place.

The hierarchy::

    ConserjeError
    ├── ConfigError          settings are missing or malformed (one line per problem)
    ├── JournalError
    │   ├── JournalCorrupt   a line in the middle of the journal cannot be read
    │   ├── JournalConflict  an append expected a chat version that has moved on
    │   └── JournalUnavailable  the journal cannot accept appends (stopped, or a write failed)
    ├── SnapshotDamaged      a chat's part of a snapshot cannot be decoded
    ├── MalformedWebhook     a webhook body is not a JSON object (answered 400)
    ├── WhapiError           Whapi answered an error or could not be reached
    └── ModelError           the model could not produce a run
        └── ContextTooLong   the input exceeds the model's context window
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "ConserjeError",
    "ContextTooLong",
    "JournalConflict",
    "JournalCorrupt",
    "JournalError",
    "JournalUnavailable",
    "MalformedWebhook",
    "ModelError",
    "SnapshotDamaged",
    "WhapiError",
]


class ConserjeError(Exception):
    """Base of every error Conserje raises on purpose."""


class ConfigError(ConserjeError):
    """The settings cannot be used; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class JournalError(ConserjeError):
    """Something is wrong with the journal."""


class JournalCorrupt(JournalError):
    """The journal cannot be trusted past a point; the server must not start.

    ``line`` is 1-based, or 0 when the problem is the file as a whole.
    """

    def __init__(self, path: Path, line: int, reason: str) -> None:
        where = f"{path}: line {line}" if line else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class JournalConflict(JournalError):
    """An append expected ``chat`` at version ``expected``, but it is at ``actual``."""

    def __init__(self, chat: str, expected: int, actual: int) -> None:
        super().__init__(f"chat is at version {actual}, not {expected}")
        self.chat = chat
        self.expected = expected
        self.actual = actual


class JournalUnavailable(JournalError):
    """An append cannot be made durable: the journal is stopped or has failed."""


class SnapshotDamaged(ConserjeError):
    """A chat's state, kept encoded since a snapshot was loaded, cannot be decoded.

    The snapshot's checksum vouched for its bytes, so the writer and this reader
    disagree on the format; the journal still holds the chat. ``chat`` is the chat id
    (a phone number: mask it before logging).
    """

    def __init__(self, chat: str, reason: str) -> None:
        super().__init__(f"a chat's state in the snapshot cannot be decoded: {reason}")
        self.chat = chat
        self.reason = reason


class MalformedWebhook(ConserjeError):
    """A webhook body that is not JSON, or not a JSON object."""


class WhapiError(ConserjeError):
    """A Whapi call failed; ``status`` is the HTTP status, or ``None`` if none came back.

    Attributes:
        ambiguous: the call may have taken effect anyway (a 5xx, a timeout, a
            connection lost after the request went out, or a 2xx whose answer cannot
            be read), so a send is looked for in Whapi's list before it is made again.
        retry_after: seconds Whapi asked to wait before the next call, if it said.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.ambiguous = ambiguous
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later: no answer, a 408, a 429 or a 5xx."""
        return self.status is None or self.status in (408, 429) or self.status >= 500


class ModelError(ConserjeError):
    """The model did not produce a run (an API error, a timeout, a failed run)."""


class ContextTooLong(ModelError):
    """The model refused the input as longer than its context window."""
