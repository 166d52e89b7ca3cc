"""Journals written by the real JsonlJournal, and `conserje log` run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conserje.eventlog.events import Event, MessageReceived, TurnFinished, TurnStarted
from conserje.eventlog.jsonl import JsonlJournal

CHAT = "34600111222@s.whatsapp.net"
OTHER = "34600999888@s.whatsapp.net"
START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def run_log(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m conserje log ARGS` with a bare environment (no secrets, UTC)."""
    return subprocess.run(
        [sys.executable, "-m", "conserje", "log", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC", **env},
        cwd=cwd,
        timeout=30,
        check=False,
    )


def write_journal(
    data_dir: Path,
    appends: list[list[Event]],
    *,
    start: float = START,
    step: float = 60.0,
    segment_bytes: int = 700,
) -> list[Event]:
    """Append each batch with its own timestamp (``start + step``, ``+ 2 step``...)."""
    clock = iter(start + step * n for n in range(1, 10_000))
    # No fsync: these journals only need to be on disk for the next process, not crash-proof.
    journal = JsonlJournal(
        data_dir / "journal", clock=lambda: next(clock), fsync=False, segment_bytes=segment_bytes
    )
    journal.start()
    written = [event for batch in appends for event in journal.append(batch)]
    journal.close()
    return written


def messages(count: int, chat: str = CHAT) -> list[list[Event]]:
    """Single-message appends whose texts are ``text-00``, ``text-01``..."""
    return [
        [MessageReceived(chat=chat, message_id=f"m{n}", text=f"text-{n:02d}")] for n in range(count)
    ]


def a_turn(chat: str, turn: str, message_id: str) -> list[Event]:
    """A turn that starts and fails in one multi-line append."""
    return [
        TurnStarted(chat=chat, turn_id=turn, message_ids=[message_id]),
        TurnFinished(chat=chat, turn_id=turn, outcome="failed", error="model down"),
    ]


def files_state(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``directory`` with its bytes and modification time."""
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"
