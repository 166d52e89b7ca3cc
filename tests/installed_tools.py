"""Tools that packages installed in this environment offer, whatever the test adds.

The example tool package (``examples/conserje-availability``) is installed next to
Conserje by the README's commands, so a test that lists the tools it expects adds these.
"""

from __future__ import annotations

from conserje.assistant.tools import ToolRegistry


def installed_tool_names() -> list[str]:
    """Return the names the ``conserje.tools`` entry points give now, in load order."""
    with ToolRegistry() as registry:
        registry.load_entry_points()
        return registry.names()
