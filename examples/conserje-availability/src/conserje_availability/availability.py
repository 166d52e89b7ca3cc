"""``check_availability``: which apartments are free for some nights, from a CSV.

The CSV has one row per booking (``apartment,sleeps,nightly_eur,booked_from,booked_to``;
``booked_to`` is the departure day, so that night is free again); an apartment with no
bookings has a row with both dates empty. It is read on every call, so an edited file
takes effect at once. ``AVAILABILITY_CSV`` names another file; the default is the sample
shipped in this package.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import msgspec

from conserje.assistant.tools import tool

__all__ = [
    "MAX_NIGHTS",
    "Apartment",
    "Availability",
    "AvailabilityQuery",
    "Offer",
    "check_availability",
    "load_bookings",
]

MAX_NIGHTS = 30
"""The longest stay the tool quotes; longer ones are for a person to arrange."""


class AvailabilityQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The stay the guest asks about."""

    check_in: Annotated[dt.date, msgspec.Meta(description="Arrival day, YYYY-MM-DD.")]
    check_out: Annotated[
        dt.date, msgspec.Meta(description="Departure day, YYYY-MM-DD; after check_in.")
    ]
    guests: Annotated[
        int, msgspec.Meta(ge=1, le=20, description="How many people; null means 2.")
    ] = 2


class Offer(msgspec.Struct):
    """One apartment free for the whole stay."""

    apartment: str
    sleeps: int
    nights: int
    total_eur: int


class Availability(msgspec.Struct):
    """The answer the model reads."""

    check_in: dt.date
    check_out: dt.date
    guests: int
    available: list[Offer]
    note: str


@dataclass
class Apartment:
    """An apartment and the stays already booked in it."""

    name: str
    sleeps: int
    nightly_eur: int
    booked: list[tuple[dt.date, dt.date]] = field(default_factory=list)

    def free(self, check_in: dt.date, check_out: dt.date) -> bool:
        """Tell whether no booking overlaps the nights from ``check_in`` to ``check_out``."""
        return all(check_out <= start or end <= check_in for start, end in self.booked)


def load_bookings(path: Path | None = None) -> list[Apartment]:
    """Read the apartments and their bookings from a CSV, in file order.

    Raises:
        ValueError: a row is malformed; the message names its line.
    """
    if path is None:
        text = (resources.files(__package__) / "apartments.csv").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    apartments: dict[str, Apartment] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            name = row["apartment"].strip()
            apartment = apartments.setdefault(
                name, Apartment(name, int(row["sleeps"]), int(row["nightly_eur"]))
            )
            if row["booked_from"]:
                start = dt.date.fromisoformat(row["booked_from"])
                end = dt.date.fromisoformat(row["booked_to"])
                apartment.booked.append((start, end))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path or 'apartments.csv'} line {line}: {exc}") from exc
    return list(apartments.values())


@tool(
    description=(
        "Check which apartments are free for a stay and what it costs. Call it whenever "
        "the guest asks about availability, free dates or prices for some dates."
    ),
    timeout=5.0,
)
def check_availability(query: AvailabilityQuery) -> Availability | dict[str, Any]:
    """List the apartments free for the whole stay that sleep enough guests.

    Dates the guest got wrong are not a failure of the tool: they come back as an
    ``error`` the model reads, so it can ask the guest again.
    """
    nights = (query.check_out - query.check_in).days
    if nights < 1:
        return _invalid("check_out must be at least one day after check_in")
    if nights > MAX_NIGHTS:
        return _invalid(f"stays longer than {MAX_NIGHTS} nights are arranged by a person")
    chosen = os.environ.get("AVAILABILITY_CSV")
    apartments = load_bookings(Path(chosen) if chosen else None)
    offers = [
        Offer(a.name, a.sleeps, nights, a.nightly_eur * nights)
        for a in apartments
        if a.sleeps >= query.guests and a.free(query.check_in, query.check_out)
    ]
    note = "Prices are for the whole stay, in euros." if offers else "Nothing is free then."
    return Availability(query.check_in, query.check_out, query.guests, offers, note)


def _invalid(message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_dates", "message": message}}
