"""The real server wired to the two fakes, for campaigns run by pytest or by hand."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conserje.testing.fake_openai import FakeOpenAI, last_user_text
from conserje.testing.fake_tool_calls import calls_on_first_request, tool_outputs
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess
from tests.e2e.conftest import WHAPI_TOKEN, install_tool_plugin

__all__ = ["TOOL_WORD", "Rig", "answer", "rig"]

TOOL_WORD = "noches"
"""A guest message with this word makes the fake model call the plugin's tool first."""

MODEL_LATENCY = 0.3
"""Seconds a background run takes at the fake model, polled or not."""

RIG_LOG_LIMIT = 5_000_000
"""Records the rig's fakes keep: the checker reads every send and run of a whole run.

The longest run by hand (a soak of 3000 chats over 5 rounds) makes well under a million
requests to either fake; the fakes' default would forget the first sends.
"""


def answer(body: dict[str, Any]) -> str:
    """The fake model's reply: it names every guest message it answers, and any tool result.

    Naming the guest's words lets the checker find, from Whapi's side alone, which
    messages each reply answered.
    """
    said = last_user_text(body.get("input")).replace("\n", " | ")
    outputs = tool_outputs(body.get("input"))
    return f"answer to: {said}" + (f" (tools: {'; '.join(outputs)})" if outputs else "")


_quote = calls_on_first_request([("quote_stay", {"apartment": "Sol", "nights": 2})])


def _tool_calls(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return _quote(body) if TOOL_WORD in last_user_text(body.get("input")) else []


@dataclass
class Rig:
    """One server, its fakes, and the tool plugin's marks.

    Attributes:
        root: where the data dir, the log and the plugin live.
        server: the real ``conserje serve`` (built, started by the caller).
        openai: the fake model.
        whapi: the fake gateway; its echoes go to the server's ``/hook``.
        marks: the file where the plugin's tool writes one line per execution.
    """

    root: Path
    server: ServerProcess
    openai: FakeOpenAI
    whapi: FakeWhapi
    marks: Path

    @property
    def tool_hold(self) -> Path:
        """While this file exists the plugin's tool waits (up to 20 s)."""
        return self.marks.with_suffix(".hold")


@contextlib.contextmanager
def rig(
    root: Path,
    *,
    latency: float | None = MODEL_LATENCY,
    data_dir: Path | None = None,
    **env: str,
) -> Iterator[Rig]:
    """Build a rig under ``root``; the server is killed on the way out if still running.

    Args:
        root: an empty directory.
        latency: the fake model's run latency (``None``: one step per retrieve).
        data_dir: the server's data dir (default: ``root/data``).
        env: settings for the server on top of the rig's own.
    """
    plugin_env, marks = install_tool_plugin(root)
    with (
        FakeOpenAI(
            reply=answer, tool_calls=_tool_calls, latency=latency, log_limit=RIG_LOG_LIMIT
        ) as openai,
        FakeWhapi(token=WHAPI_TOKEN, log_limit=RIG_LOG_LIMIT) as whapi,
    ):
        settings = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai.base_url,
            "WHAPI_TOKEN": WHAPI_TOKEN,
            "WHAPI_API_URL": whapi.url,
            "BUFFER_WINDOW_MS": "200",
            "OPENAI_STRICT_VALIDATION": "true",
            "TOOL_INTERIM_AFTER_MS": "600000",
            # Bounds how long a restart waits for a send a kill interrupted to land.
            "WHAPI_TIMEOUT_MS": "3000",
            "LOG_LEVEL": "INFO",
            **plugin_env,
            **env,
        }
        server = ServerProcess(data_dir or root / "data", settings, log_path=root / "server.log")
        whapi.webhook_url = f"{server.url}/hook"
        try:
            yield Rig(root, server, openai, whapi, marks)
        finally:
            server.kill()
