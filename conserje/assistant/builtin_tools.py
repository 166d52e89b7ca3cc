"""The arguments of the tools every Conserje offers, whatever the business.

Only their shapes live here; the tools themselves need the journal and Whapi and are
wired where those are at hand.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["EscalateArgs"]


class EscalateArgs(msgspec.Struct, forbid_unknown_fields=True):
    """Hand the conversation to a member of staff."""

    reason: Annotated[str, msgspec.Meta(description="Why a person is needed, in a few words.")]
    summary: Annotated[
        str, msgspec.Meta(description="What the guest wants and what was already said.")
    ]
    urgency: Annotated[
        Literal["low", "normal", "high"],
        msgspec.Meta(description="How soon staff should answer; null means normal."),
    ] = "normal"
