"""``conserje log``: the audit commands' arguments, and running one of them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conserje.audit import show, stats, trace, verify
from conserje.audit.problems import UNUSABLE, say
from conserje.audit.source import AuditError, data_dir, journal_directory

__all__ = ["add_log_arguments", "run_log"]


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """Give the ``log`` command's ``parser`` its actions: show, trace, stats, verify."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the server's data dir, which holds journal/ (default: $CONSERJE_DATA_DIR or ./data)",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show_parser = actions.add_parser(
        "show",
        parents=[common],
        help="the journal as a story, one line per event",
        description="Print events as a story: time, chat (masked unless --chat), who, what.",
    )
    show.add_arguments(show_parser)
    show_parser.set_defaults(run=show.run)
    trace_parser = actions.add_parser(
        "trace",
        parents=[common],
        help="one turn's stages with times and durations, and where its time went",
        description="Trace one turn (by its id, or a chat's latest or slowest) from the "
        "first guest message it answered to its end.",
    )
    trace.add_arguments(trace_parser)
    trace_parser.set_defaults(run=trace.run)
    for name, module, summary in (
        ("stats", stats, "what the journal holds, in numbers"),
        ("verify", verify, "check every line; exit 0 if intact, 1 if damaged"),
    ):
        action = actions.add_parser(name, parents=[common], help=summary, description=summary)
        action.add_argument("--json", action="store_true", help="one JSON object instead")
        action.set_defaults(run=module.run)


def run_log(args: argparse.Namespace) -> int:
    """Run the ``log`` action chosen by ``args``; return the exit status.

    Nothing here writes to the data dir, and no failure ends in a traceback.
    """
    try:
        return int(args.run(args, journal_directory(data_dir(args.data_dir))))
    except AuditError as exc:
        say(str(exc))
    except BrokenPipeError:
        # The reader of our output (e.g. `head`) has gone: stop, and say nothing more to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        say(f"cannot read the journal: {exc}")
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    return UNUSABLE
