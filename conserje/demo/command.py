"""``conserje demo``: the real server, wired to a fake WhatsApp and a scripted model.

Everything runs in this one process: the fake Whapi and fake OpenAI from
:mod:`conserje.testing` are threads serving on 127.0.0.1, and the server is the same
``serve`` as ``conserje serve``. One process because the simulator's endpoints read
and drive the fake Whapi directly (what it sent, a webhook to post), and because then
Ctrl-C stops everything at once and nothing can be left running behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from conserje.config import load_settings
from conserje.demo.brain import DemoBrain
from conserje.demo.media import VOICE_TRANSCRIPT
from conserje.demo.simulator import demo_routes
from conserje.errors import ConfigError
from conserje.logs import configure_server_logging
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi

__all__ = ["DEMO_MODEL", "STAFF_CHAT", "run_demo"]

HOST = "127.0.0.1"
DEMO_MODEL = "conserje-demo-script"
"""The model name the journal shows: the demo's replies come from a script."""

STAFF_CHAT = "34600000000@s.whatsapp.net"
"""Where hand-offs are announced to "staff" (a chat on the fake channel)."""


def run_demo(port: int, data_dir: Path | None) -> int:
    """Run the demo until Ctrl-C; return the exit code.

    Args:
        port: where the server listens on 127.0.0.1.
        data_dir: where the journal goes; ``None`` for a temporary directory, deleted at exit.
    """
    if not _port_free(port):
        print(
            f"conserje demo: port {port} on {HOST} is already in use; "
            "stop what uses it or choose another with --port N",
            file=sys.stderr,
        )
        return 2
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="conserje-demo-")) if data_dir is None else data_dir
    try:
        return _run(port, directory, temporary)
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


def _run(port: int, directory: Path, temporary: bool) -> int:
    brain = DemoBrain()
    token = secrets.token_hex(16)
    # The fakes first: the server's settings name their ports.
    with (
        FakeOpenAI(reply=brain.reply, tool_calls=brain.tool_calls) as model,
        FakeWhapi(token=token, webhook_url=f"http://{HOST}:{port}/hook") as whapi,
    ):
        model.audio.default_transcript = VOICE_TRANSCRIPT
        try:
            settings = load_settings(
                {
                    "HOST": HOST,
                    "PORT": str(port),
                    "CONSERJE_DATA_DIR": str(directory),
                    "OPENAI_API_KEY": "demo-key-for-the-fake-model",
                    "OPENAI_BASE_URL": model.base_url,
                    "OPENAI_MODEL": DEMO_MODEL,
                    "WHAPI_TOKEN": token,
                    "WHAPI_API_URL": whapi.url,
                    "STAFF_CHAT_ID": STAFF_CHAT,
                    # Short enough that a visitor does not wait, long enough to show it.
                    "BUFFER_WINDOW_MS": "1500",
                    "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                }
            )
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"conserje demo: {problem}", file=sys.stderr)
            return 2
        configure_server_logging(settings)
        from conserje.server import serve  # noqa: PLC0415 - as `conserje serve` does

        def announce() -> None:
            print(f"Conserje demo: open http://{HOST}:{port}/dashboard/simulator", flush=True)
            if temporary:
                print("(the journal is in a temporary directory, deleted at Ctrl-C)", flush=True)
            else:
                print(f"(the journal is kept in {directory}; Ctrl-C stops)", flush=True)

        return serve(settings, extra_routes=demo_routes(whapi, None), on_listening=announce)


def _port_free(port: int) -> bool:
    """Tell whether the server could bind ``port`` (the same socket options as Waitress)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True
