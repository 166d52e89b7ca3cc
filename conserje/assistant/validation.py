"""Reply validators: a business's last word on a reply before the guest sees it.

A validator is a function ``(ReplyCheck) -> str | None``: ``None`` lets the reply go;
a string is an instruction for one corrective retry ("give the price in euros, as the
tool returned it"). The instruction goes to the model for that retry only and never
enters the chat's stored history. Validators come from the ``conserje.validators``
entry point group; one that raises is logged and skipped, never fatal.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["ReplyCheck", "Validator", "first_correction", "load_validators"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyCheck:
    """What a validator sees: the reply, what the guest wrote, what the tools returned."""

    reply: str
    guest_texts: list[str]
    tool_outputs: list[str]


Validator = Callable[[ReplyCheck], "str | None"]


def load_validators(
    group: str = "conserje.validators",
) -> tuple[list[tuple[str, Validator]], list[str]]:
    """Load the validators published under ``group``; return them and any problems."""
    validators: list[tuple[str, Validator]] = []
    problems: list[str] = []
    for entry in importlib.metadata.entry_points(group=group):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin is reported, never fatal
            problems.append(f"{entry.name} ({entry.value}): {type(exc).__name__}: {exc}")
            continue
        if not callable(loaded):
            problems.append(f"{entry.name} ({entry.value}): not callable")
            continue
        validators.append((entry.name, loaded))
    return validators, problems


def first_correction(
    validators: Sequence[tuple[str, Validator]], check: ReplyCheck
) -> tuple[str, str] | None:
    """Return ``(validator name, instruction)`` from the first validator that objects."""
    for name, validator in validators:
        try:
            instruction = validator(check)
        except Exception:  # a failing validator must not cost the guest the reply
            log.exception("reply validator %s failed; ignoring it", name)
            continue
        if instruction:
            return name, str(instruction)
    return None
