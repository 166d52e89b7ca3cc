"""``conserje demo`` as a process, as a newcomer starts it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from conserje.testing.process import free_port
from conserje.testing.wait import wait_for

# The real server and its fakes, for what must not exist outside the demo.
from tests.e2e.conftest import make_server, openai_fake, whapi_fake  # noqa: F401

URL = re.compile(r"http://\S+")


class DemoProcess:
    """A running ``python -m conserje demo``, its one printed URL, and its output."""

    def __init__(self, port: int, log_dir: Path, *args: str, tmpdir: Path | None = None) -> None:
        self.port = port
        self.stdout_path = log_dir / f"demo-{port}.out"
        self.stderr_path = log_dir / f"demo-{port}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conserje", "demo", "--port", str(port), *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                # A newcomer's shell has no settings for it: the demo must not need any.
                env={
                    "PATH": os.environ.get("PATH", ""),
                    **({"TMPDIR": str(tmpdir)} if tmpdir else {}),
                },
            )
        self.http = httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def url(self) -> str:
        """Wait for the URL the demo prints and return it (the only URL printed)."""
        wait_for(lambda: URL.search(self.stdout), timeout=30, what="the demo's URL")
        (url,) = URL.findall(self.stdout)
        wait_for(self._ready, timeout=30, what="the demo ready")
        return url

    def _ready(self) -> bool:
        try:
            return self.http.get("/ready").status_code == 200
        except httpx2.TransportError:
            return False

    def interrupt(self, timeout: float = 30) -> int:
        """Press Ctrl-C (SIGINT) and return the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Ctrl-C if still running (SIGKILL if that does not end it)."""
        if self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.http.close()


@pytest.fixture
def start_demo(tmp_path):
    """Start ``conserje demo`` on a free port; stopped with Ctrl-C after the test."""
    started: list[DemoProcess] = []

    def start(*args: str, port: int | None = None, tmpdir: Path | None = None) -> DemoProcess:
        # Its temporary data dir goes under the test's, whatever becomes of the process.
        demo = DemoProcess(port or free_port(), tmp_path, *args, tmpdir=tmpdir or tmp_path)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.stop()
