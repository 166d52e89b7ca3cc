"""The ``conserje`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conserje import __version__
from conserje.audit import add_log_arguments, run_log
from conserje.config import load_settings
from conserje.errors import ConfigError
from conserje.logs import configure_server_logging

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="conserje", description="A WhatsApp assistant server with an auditable journal."
    )
    parser.add_argument("--version", action="version", version=f"conserje {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the server (settings come from the environment)")
    demo = commands.add_parser(
        "demo",
        help="try it: the server with a fake WhatsApp, a scripted model and a chat simulator",
        description="Run the server on 127.0.0.1 with a fake WhatsApp channel and a scripted "
        "model, and a chat simulator in the browser. Needs no accounts.",
    )
    demo.add_argument("--port", type=_port, default=8080, help="port on 127.0.0.1 (default 8080)")
    demo.add_argument(
        "--data-dir", type=Path, help="keep the journal here (default: a temporary directory)"
    )
    add_log_arguments(
        commands.add_parser(
            "log",
            help="read and check the journal (needs no settings but the data dir)",
            description="Read and check the journal; nothing is ever written.",
        )
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        return _serve()
    if args.command == "demo":
        from conserje.demo.command import run_demo  # noqa: PLC0415 - keep `--help` fast

        return run_demo(args.port, args.data_dir)
    if args.command == "log":
        return run_log(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


def _port(text: str) -> int:
    """Parse a TCP port for argparse (which turns the error into a usage message)."""
    if not (text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def _serve() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"conserje: {problem}", file=sys.stderr)
        print("conserje: not started; fix the settings above and try again", file=sys.stderr)
        return 2
    configure_server_logging(settings)
    from conserje.server import serve  # noqa: PLC0415 - keep `--help` and config errors fast

    return serve(settings)
