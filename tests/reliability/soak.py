"""Load and soak: thousands of chats talk in rounds while their actors come and go.

Every chat writes one message per round through the real server, with a fake model
that takes a realistic time per run. Actors are capped (``ACTOR_MAX_LIVE``) and stopped
when idle (``ACTOR_IDLE_MS``), so by the next round most chats were passivated and come
back from their kept state. The run records the server's RSS (against a baseline taken
before any traffic, and against the end of the first round, when every chat is known),
the most chat actors seen alive, the passivations, and checks that every returning chat
still had its whole history in the model's input.

Run by hand (loopback only; the README has the command)::

    python -m tests.reliability.soak --chats 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.reliability.checker import TOKEN, Figures, check
from tests.reliability.rig import Rig, rig

__all__ = ["Soak", "run_soak"]

_POSTERS = 16


@dataclass
class Soak:
    """What a soak run saw.

    Attributes:
        figures: the checker's figures over every message of the run.
        rss_kib: the server's RSS before traffic, then at the end of each round.
        max_live: the most chat actors seen alive at once (sampled every 0.2 s).
        cap: ``ACTOR_MAX_LIVE`` for the run.
        passivations: chat actors stopped and their state kept.
        history_broken: chats whose last model input missed one of their earlier messages.
        round_seconds: how long each round took, to every reply.
    """

    figures: Figures
    rss_kib: list[int]
    max_live: int
    cap: int
    passivations: int
    history_broken: list[str] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)

    def report(self) -> str:
        """The figures as lines for a terminal."""
        base, first, last = self.rss_kib[0], self.rss_kib[1], self.rss_kib[-1]
        lines = [
            self.figures.report(),
            f"  chat actors alive at most {self.max_live} (ACTOR_MAX_LIVE {self.cap}); "
            f"passivations {self.passivations}",
            f"  chats whose history came back incomplete {len(self.history_broken)}",
            "  RSS MiB by round: " + " ".join(f"{k / 1024:.1f}" for k in self.rss_kib),
            f"  RSS last round / first round {last / first:.2f}; "
            f"last round / before traffic {last / base:.2f}",
            "  seconds per round: " + " ".join(f"{s:.1f}" for s in self.round_seconds),
        ]
        return "\n".join(lines)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _gauge(r: Rig, name: str) -> float:
    for family in text_string_to_metric_families(r.server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0.0


class _LiveSampler:
    """Samples ``conserje_chat_actors`` in the background and keeps the highest value."""

    def __init__(self, r: Rig) -> None:
        self.highest = 0.0
        self._r = r
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LiveSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._done.wait(0.2):
            self.highest = max(self.highest, _gauge(self._r, "conserje_chat_actors"))


def _history_broken(r: Rig, tokens_by_chat: dict[str, list[str]]) -> list[str]:
    """Chats whose last model input lacks one of their earlier messages."""
    last_input: dict[str, str] = {}
    for body in r.openai.created():
        said = json.dumps(body.get("input"), ensure_ascii=False)
        for token in TOKEN.findall(said)[-1:]:
            last_input[token] = said
    broken = []
    for chat, tokens in tokens_by_chat.items():
        said = last_input.get(tokens[-1], "")
        if not all(t in said for t in tokens):
            broken.append(chat)
    return broken


def run_soak(
    root: Path,
    *,
    chats: int,
    rounds: int,
    cap: int,
    latency: float,
    say: Any = lambda line: None,
) -> Soak:
    """Run ``rounds`` rounds in which each of ``chats`` chats writes once; return the figures.

    Args:
        root: an empty directory.
        chats: how many chats.
        rounds: how many messages each chat writes, one per round.
        cap: ``ACTOR_MAX_LIVE``.
        latency: seconds each model run takes.
        say: called with one line per round.
    """
    names = [f"3472{n:07d}@s.whatsapp.net" for n in range(chats)]
    acknowledged: dict[str, str] = {}
    tokens_by_chat: dict[str, list[str]] = defaultdict(list)
    settings = {
        "ACTOR_MAX_LIVE": str(cap),
        "ACTOR_IDLE_MS": "1000",
        "OPENAI_MAX_CONCURRENCY": "64",
        "LOG_LEVEL": "WARNING",
    }
    with rig(root, latency=latency, **settings) as r, ThreadPoolExecutor(_POSTERS) as pool:
        r.server.start()
        pid = r.server.process.pid
        rss = [_rss_kib(pid)]
        seconds = []
        with _LiveSampler(r) as live:
            for n in range(rounds):
                started = time.monotonic()
                batch = {}
                for i, chat in enumerate(names):
                    token = f"k{n * chats + i:06d}"
                    batch[token] = payloads.text_message(chat, f"ronda {n} {token}")
                    tokens_by_chat[chat].append(token)

                def post(item: tuple[str, dict[str, Any]]) -> None:
                    token, payload = item
                    if r.server.post("/hook", json=payload, timeout=30).status_code == 200:
                        acknowledged[payload["messages"][0]["id"]] = token

                list(pool.map(post, batch.items()))
                wanted = set(batch)

                def answered(wanted: set[str] = wanted) -> bool:
                    said = {t for m in r.whapi.sent for t in TOKEN.findall(m.body)}
                    return wanted <= said

                try:
                    wait_for(answered, timeout=120 + chats * 0.1, interval=0.5)
                except TimeoutError:
                    say(f"round {n + 1}: not every message answered; the figures say which")
                seconds.append(time.monotonic() - started)
                rss.append(_rss_kib(pid))
                alive = _gauge(r, "conserje_chat_actors")
                say(
                    f"round {n + 1}/{rounds}: {chats} chats answered in {seconds[-1]:.1f} s, "
                    f"RSS {rss[-1] / 1024:.1f} MiB, actors alive {alive:g}"
                )
                # Idle actors stop after ACTOR_IDLE_MS: the next round finds them passivated.
                wait_for(
                    lambda: _gauge(r, "conserje_chat_actors") <= cap // 2,
                    timeout=30,
                    what="idle actors passivated",
                )
        passivations = int(_gauge(r, "conserje_chat_passivations_total"))
        broken = _history_broken(r, tokens_by_chat)
        r.server.stop()
        figures = check(
            f"soak {chats} chats x {rounds}",
            acknowledged,
            r.server.journal(),
            sent_bodies=[m.body for m in r.whapi.sent],
            running=r.openai.running(),
            data_dir=r.server.data_dir,
        )
    return Soak(figures, rss, int(live.highest), cap, passivations, broken, seconds)


def main(argv: list[str] | None = None) -> int:
    """Run a soak from the command line; exit 0 only if nothing was lost or broken."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak")
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cap", type=int, default=200, help="ACTOR_MAX_LIVE")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="conserje-soak-") as root:
        soak = run_soak(Path(root), **vars(args), say=print)
    print(soak.report())
    return 0 if soak.figures.ok and not soak.history_broken else 1


if __name__ == "__main__":
    sys.exit(main())
