"""Fixtures that start the real server as a process, wired to the two fakes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conserje.testing import payloads
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess, free_port
from conserje.testing.wait import wait_for

WHAPI_TOKEN = "whapi-test-token"


@pytest.fixture
def openai_fake():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def whapi_fake():
    with FakeWhapi(token=WHAPI_TOKEN) as fake:
        yield fake


@pytest.fixture
def make_server(tmp_path, openai_fake, whapi_fake):
    """Build (not start) a server pointed at the fakes; Whapi echoes to its /hook."""
    servers: list[ServerProcess] = []

    def make(data_dir=None, **env: str) -> ServerProcess:
        port = free_port()
        settings = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai_fake.base_url,
            "WHAPI_TOKEN": WHAPI_TOKEN,
            "WHAPI_API_URL": whapi_fake.url,
            "BUFFER_WINDOW_MS": "300",
            "OPENAI_STRICT_VALIDATION": "true",
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        server = ServerProcess(
            data_dir or tmp_path / "data", settings, port=port, log_path=tmp_path / "server.log"
        )
        whapi_fake.webhook_url = f"{server.url}/hook"
        servers.append(server)
        return server

    yield make
    for server in servers:
        if server.process is not None:
            server.kill()


def queue_burst(port: int, connections: int = 300) -> None:
    """Send ``connections`` requests at once, more than Waitress has threads, so they queue.

    Every connection is open before any request goes, so Waitress reads them all in
    one go and queues tasks faster than its threads take them.
    """
    sockets = [
        socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(connections)
    ]
    try:
        for sock in sockets:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        for sock in sockets:
            while sock.recv(65536):
                pass
    finally:
        for sock in sockets:
            sock.close()


def settle(server: ServerProcess, whapi: FakeWhapi, *, turns: int) -> None:
    """Wait until ``turns`` turns have finished and nothing else is in flight.

    Echoes of every send must have been delivered back to the server too, so a test
    that then counts replies would see any reply those echoes wrongly caused.
    """
    wait_for(
        lambda: len(server.events("turn_finished")) >= turns,
        timeout=20,
        what=f"{turns} turns finished",
    )

    def echoes_delivered() -> bool:
        delivered = {p["messages"][0]["id"] for p, s in whapi.webhook_deliveries if s == 200}
        return all(m.id in delivered for m in whapi.sent)

    wait_for(echoes_delivered, timeout=20, what="every echo delivered")
    # /locks lists chat ids, so it wants the admin token when the server has one.
    token = server.env.get("ADMIN_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def nothing_at_work() -> bool:
        locks = server.get("/locks", headers=headers).json()
        return locks["activeLocks"] == 0 and locks["activeQueues"] == 0

    wait_for(nothing_at_work, timeout=20, what="no chat at work")


PLUGIN = """
import os, pathlib, time

import msgspec

from conserje.assistant.tools import tool

MARKS = pathlib.Path(os.environ["E2E_TOOL_MARKS"])


class Stay(msgspec.Struct):
    apartment: str
    nights: int


@tool(description="Price of a stay.", timeout=30, interim_message="Un momento, lo consulto...")
def quote_stay(args: Stay) -> dict:
    with MARKS.open("a") as f:
        f.write(args.apartment + "\\n")
    hold = MARKS.with_suffix(".hold")
    deadline = time.monotonic() + 20
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if args.apartment == "broken":
        raise RuntimeError("the booking system is down")
    return {"apartment": args.apartment, "nights": args.nights, "total_eur": 95 * args.nights}


TOOLS = [quote_stay]


def prices_in_euros(check):
    # A business rule: a reply about prices names the currency.
    if "precio" in " ".join(check.guest_texts).lower() and "€" not in check.reply:
        return "Give the price in euros (€), as the tools returned it."
    return None
"""


def install_tool_plugin(root: Path) -> tuple[dict[str, str], Path]:
    """Install the tool plugin (entry point ``conserje.tools``) under ``root``.

    Returns the environment to start the server with and the file where the tool
    writes one line per execution; while ``<file>.hold`` exists the tool waits.
    """
    site = install_plugin(
        root / "site",
        "conserje_e2e_tools",
        PLUGIN,
        "[conserje.tools]\ne2e = conserje_e2e_tools:TOOLS\n\n"
        "[conserje.validators]\neuros = conserje_e2e_tools:prices_in_euros\n",
    )
    marks = root / "tool-marks.txt"
    return {"PYTHONPATH": str(site), "E2E_TOOL_MARKS": str(marks)}, marks


def install_plugin(site: Path, module: str, source: str, entry_points: str) -> Path:
    """Install ``source`` as module ``module`` with ``entry_points`` in ``site``; return it.

    The server finds the plugin when started with ``PYTHONPATH`` set to ``site``.
    """
    dist = site / f"{module}-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return site


@pytest.fixture
def tool_plugin(tmp_path):
    """An installed tool plugin for the server process (see :func:`install_tool_plugin`)."""
    return install_tool_plugin(tmp_path)


COMPACTING = {"THREAD_TOKEN_THRESHOLD": "120", "HISTORIAL_SUMMARY_THRESHOLD": "100"}
"""Settings under which a few long messages push a chat's history over the threshold."""


def talk_past_the_threshold(server: ServerProcess, whapi: FakeWhapi, chat: str) -> None:
    """Have three long turns in ``chat``, enough to compact its history under COMPACTING."""
    padding = " (y te cuento más detalles del viaje para que lo tengas todo claro)" * 2
    texts = ["Somos cuatro adultos", "Llegamos el 3 de mayo", "¿Y parking?"]
    for n, text in enumerate(t + padding for t in texts):
        whapi.post_webhook(payloads.text_message(chat, text))
        settle(server, whapi, turns=n + 1)
