"""An example Conserje tool package: apartment availability from a CSV.

Conserje loads :data:`TOOLS` through the ``conserje.tools`` entry point declared in this
package's ``pyproject.toml``; installing the package is all it takes to offer the tool.
"""

from conserje_availability.availability import (
    Availability,
    AvailabilityQuery,
    Offer,
    check_availability,
    load_bookings,
)

__all__ = [
    "TOOLS",
    "Availability",
    "AvailabilityQuery",
    "Offer",
    "check_availability",
    "load_bookings",
]

TOOLS = [check_availability]
"""The tools this package offers to Conserje."""
