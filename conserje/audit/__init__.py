"""Auditing the journal from the command line: ``conserje log show|stats|verify``.

Every command only reads: none of them changes, truncates or creates a file, and none
needs the server's secrets.
"""

from conserje.audit.command import add_log_arguments, run_log

__all__ = ["add_log_arguments", "run_log"]
