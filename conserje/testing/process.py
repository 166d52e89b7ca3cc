"""The real ``conserje serve`` as a child process, for end-to-end tests and the demo.

Tests start it, talk to it over real HTTP, kill it with SIGKILL to simulate a crash and
start it again on the same port and data dir, exactly as an operator's supervisor would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2

from conserje.testing.wait import wait_for

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Runs ``python -m conserje serve`` with the given settings.

    Args:
        data_dir: the ``CONSERJE_DATA_DIR``; kept across restarts.
        env: settings (environment variables) on top of a clean base.
        port: the port to listen on (default: a free one, kept across restarts).
        log_path: where the server's stderr goes (default: ``data_dir/server.log``).
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = log_path or data_dir / "server.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CONSERJE_DATA_DIR": str(data_dir),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._http = httpx2.Client(base_url=self.url, timeout=10.0, trust_env=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def journal_dir(self) -> Path:
        """The journal's segment directory in the data dir."""
        return self.data_dir / "journal"

    def start(self, *, wait: bool = True, ready_timeout: float = 20.0) -> Self:
        """Start the server and, unless ``wait`` is false, wait until ``/ready`` is 200.

        Raises:
            RuntimeError: it is already running; a second process would be left behind.
        """
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"the server at {self.url} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conserje", "serve"],
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        if wait:
            wait_for(self._ready, timeout=ready_timeout, what=f"server ready at {self.url}")
        return self

    def kill(self) -> None:
        """Crash the server: SIGKILL, no chance to clean up."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self, timeout: float = 15.0) -> int:
        """Stop the server with SIGTERM and return its exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        self.process = None
        return code

    def restart(self) -> Self:
        """Start again after :meth:`kill` or :meth:`stop`, same port and data dir."""
        return self.start()

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        """GET ``path`` on the server."""
        return self._http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx2.Response:
        """POST to ``path`` on the server."""
        return self._http.post(path, **kwargs)

    def journal(self) -> list[dict[str, Any]]:
        """Read the journal as an auditor would: one JSON object per complete line."""
        events = []
        for segment in sorted(self.journal_dir.glob("*.jsonl")):
            *complete, _partial = segment.read_bytes().split(b"\n")
            events += [json.loads(line) for line in complete if line.strip()]
        return events

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """Return the journaled events of one type."""
        return [e for e in self.journal() if e["type"] == event_type]

    def log_text(self) -> str:
        """Return what the server has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Self:
        # ``with server.start():`` and ``with server.restart():`` have started it already.
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._http.close()

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {self.process.returncode}:\n{self.log_text()[-2000:]}"
            )
        try:
            return self._http.get("/ready").status_code == 200
        except httpx2.HTTPError:
            return False
