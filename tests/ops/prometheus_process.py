"""A real Prometheus server as a child process, on 127.0.0.1 with its own storage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from conserje.testing.process import free_port
from conserje.testing.wait import wait_for


class Prometheus:
    """A running Prometheus: its query API and its log.

    Args:
        process: the ``prometheus`` child process.
        port: the port it listens on, on 127.0.0.1.
        log: the file its output goes to.
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self._process = process
        self._log = log
        self._http = httpx2.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10.0, trust_env=False
        )

    def query(self, expression: str) -> dict[str, Any]:
        """Run an instant query and return its ``data``; a refused query raises."""
        self._alive()
        answer = self._http.get("/api/v1/query", params={"query": expression}).json()
        if answer["status"] != "success":
            raise AssertionError(f"Prometheus refused {expression!r}: {answer.get('error')}")
        return answer["data"]

    def samples(self, selector: str, window: str = "1m") -> list[tuple[float, float]]:
        """Return the scraped samples of the one series ``selector`` picks: (time, value)."""
        result = self.query(f"{selector}[{window}]")["result"]
        if not result:
            return []
        (series,) = result
        return [(float(at), float(value)) for at, value in series["values"]]

    def rules(self) -> list[dict[str, Any]]:
        """Return every loaded rule with its health and last evaluation."""
        self._alive()
        groups = self._http.get("/api/v1/rules").json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def log_text(self) -> str:
        """Return what Prometheus has logged so far."""
        return self._log.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        """Tell whether it answers ``/-/ready``; raise if it has exited."""
        self._alive()
        try:
            return self._http.get("/-/ready").is_success
        except httpx2.HTTPError:
            return False

    def close(self) -> None:
        """Stop it (SIGTERM, then SIGKILL if it lingers) and release the client."""
        self._http.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def _alive(self) -> None:
        if (code := self._process.poll()) is not None:
            raise RuntimeError(f"prometheus exited with {code}:\n{self.log_text()[-2000:]}")


@contextmanager
def running_prometheus(binary: str, config: dict[str, Any], workdir: Path) -> Iterator[Prometheus]:
    """Run ``prometheus`` with ``config`` until the block ends.

    Args:
        binary: the ``prometheus`` executable.
        config: the configuration, written as JSON (which is YAML) for it to read.
        workdir: where its configuration, storage and log go.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    prometheus = Prometheus(process, port, log)
    try:
        wait_for(prometheus.ready, timeout=30, what=f"Prometheus ready on port {port}")
        yield prometheus
    finally:
        prometheus.close()
