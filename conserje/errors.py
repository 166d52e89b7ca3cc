"""Conserje's exceptions, all in one place.

The hierarchy::

    ConserjeError
    ├── ConfigError          settings are missing or malformed (one line per problem)
    ├── JournalError
    │   ├── JournalCorrupt   a line in the middle of the journal cannot be read
    │   └── JournalUnavailable  the journal cannot accept appends (stopped, or a write failed)
    ├── MalformedWebhook     a webhook body is not a JSON object (answered 400)
    ├── WhapiError           Whapi answered an error or could not be reached
    └── ModelError           the model could not produce a run
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "ConserjeError",
    "JournalCorrupt",
    "JournalError",
    "JournalUnavailable",
    "MalformedWebhook",
    "ModelError",
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
    """A line that is not the last one cannot be decoded; the server must not start."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}: line {line} is damaged ({reason})")
        self.path = path
        self.line = line
        self.reason = reason


class JournalUnavailable(JournalError):
    """An append cannot be made durable: the journal is stopped or has failed."""


class MalformedWebhook(ConserjeError):
    """A webhook body that is not JSON, or not a JSON object."""


class WhapiError(ConserjeError):
    """A Whapi call failed; ``status`` is the HTTP status, or ``None`` if none came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ModelError(ConserjeError):
    """The model did not produce a run (an API error, a timeout, a failed run)."""
