"""Crash campaign: guests keep writing while the real server is SIGKILLed, again and again.

Each round restarts the server, redelivers what it did not acknowledge (as Whapi does),
sends a burst from every chat and kills the server at one point: a random moment, during
boot, right after a 200, between ``run_started`` and the run's result, between a tool
call and its result, or between the Whapi send and its journal line. After the last
round the server runs until every acknowledged message is dealt with, and the checker
counts what was lost, answered twice or left running.

Run by hand (the README has the command)::

    python -m tests.reliability.campaign --rounds 60 --chats 12
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from conserje.testing import payloads
from conserje.testing._server import Fault
from conserje.testing.wait import wait_for
from tests.reliability.checker import Figures, check
from tests.reliability.rig import TOOL_WORD, Rig, rig

__all__ = ["POINTS", "Guests", "run_campaign"]

POINTS = ("random", "boot", "after_200", "in_run", "in_tool", "in_send")
"""Where a round kills the server; rounds cycle through them in this order."""

_POINT_TIMEOUT = 15.0
_SETTLE_TIMEOUT = 90.0
_SEND_DELAY = 1.0


class Guests:
    """Chats that write bursts to the server and remember what it acknowledged.

    Args:
        chats: how many chats write.
        rng: the campaign's random source (pauses between messages).
    """

    def __init__(self, chats: int, rng: random.Random) -> None:
        self.chats = [f"3469{n:07d}@s.whatsapp.net" for n in range(chats)]
        self.acknowledged: dict[str, str] = {}
        self.first_ack = threading.Event()
        self._rng = rng
        self._lock = threading.Lock()
        self._count = 0
        self._unacknowledged: list[dict[str, Any]] = []

    def message(self, chat: str, tool: bool = False) -> dict[str, Any]:
        """Build a guest message with a fresh token (and the tool word if ``tool``)."""
        with self._lock:
            self._count += 1
            token = f"k{self._count:06d}"
        text = f"pregunta {token}" + (f" para dos {TOOL_WORD}" if tool else "")
        return payloads.text_message(chat, text)

    def deliver(self, server_post: Callable[..., httpx2.Response], payload: dict) -> bool:
        """POST one delivery; remember it as acknowledged on 200, else to deliver again."""
        try:
            status = server_post("/hook", json=payload, timeout=5.0).status_code
        except httpx2.HTTPError:
            status = None
        message = payload["messages"][0]
        with self._lock:
            if status == 200:
                token = message["text"]["body"].split()[1]
                self.acknowledged[message["id"]] = token
                self.first_ack.set()
            else:
                self._unacknowledged.append(payload)
        return status == 200

    def redeliver(self, server_post: Callable[..., httpx2.Response]) -> None:
        """Deliver again, once each, what the server did not acknowledge."""
        with self._lock:
            pending, self._unacknowledged = self._unacknowledged, []
        for payload in pending:
            self.deliver(server_post, payload)

    @property
    def unacknowledged(self) -> int:
        """Deliveries still waiting for a 200."""
        with self._lock:
            return len(self._unacknowledged)

    def burst(
        self, server_post: Callable[..., httpx2.Response], size: int, tool_chat: str | None
    ) -> list[threading.Thread]:
        """Start one thread per chat sending ``size`` messages a few ms apart."""
        self.first_ack.clear()
        pauses = {chat: [self._rng.uniform(0, 0.08) for _ in range(size)] for chat in self.chats}

        def write(chat: str) -> None:
            for n, pause in enumerate(pauses[chat]):
                time.sleep(pause)
                self.deliver(server_post, self.message(chat, tool=chat == tool_chat and n == 0))

        threads = [threading.Thread(target=write, args=(c,), daemon=True) for c in self.chats]
        for thread in threads:
            thread.start()
        return threads


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_round(r: Rig, guests: Guests, point: str, size: int, rng: random.Random) -> bool:
    """Run one round that ends with a SIGKILL at ``point``; return whether it was reached."""
    server = r.server
    if point == "boot":
        server.start(wait=False)
        time.sleep(rng.uniform(0.0, 1.0))
        server.kill()
        return True
    server.start()
    guests.redeliver(server.post)
    polls = len(r.openai.requests("GET", "/v1/responses/"))
    sends = len(r.whapi.requests("POST", "/messages/text"))
    tools = _lines(r.marks)
    reached: Callable[[], bool]
    if point == "random":
        moment = time.monotonic() + rng.uniform(0.05, 1.5)
        reached = lambda: time.monotonic() >= moment  # noqa: E731 - one-line condition
    elif point == "after_200":
        reached = guests.first_ack.is_set
    elif point == "in_run":
        r.openai.hold = True
        reached = lambda: len(r.openai.requests("GET", "/v1/responses/")) > polls  # noqa: E731
    elif point == "in_tool":
        r.tool_hold.touch()
        reached = lambda: _lines(r.marks) > tools  # noqa: E731
    else:
        r.whapi.inject(Fault("POST", "/messages/text", delay=_SEND_DELAY))
        reached = lambda: len(r.whapi.requests("POST", "/messages/text")) > sends  # noqa: E731
    threads = guests.burst(server.post, size, rng.choice(guests.chats))
    try:
        wait_for(reached, timeout=_POINT_TIMEOUT, interval=0.005, what=point)
        hit = True
    except TimeoutError:
        hit = False
    server.kill()
    r.openai.hold = False
    r.tool_hold.unlink(missing_ok=True)
    for thread in threads:
        thread.join(timeout=10)
    return hit


def _settled(r: Rig, guests: Guests) -> bool:
    journal = r.server.journal()
    finished = {e["turn_id"] for e in journal if e["type"] == "turn_finished"}
    consumed = {
        i
        for e in journal
        if e["type"] == "turn_started" and e["turn_id"] in finished
        for i in e["message_ids"]
    }
    if not set(guests.acknowledged) <= consumed or r.openai.running():
        return False
    locks = r.server.get("/locks").json()
    return locks["activeLocks"] == 0 and locks["activeQueues"] == 0


def run_campaign(
    root: Path,
    *,
    rounds: int,
    chats: int,
    size: int = 3,
    seed: int = 1,
    say: Callable[[str], None] = lambda line: None,
) -> Figures:
    """Run a crash campaign under ``root`` and return the checker's figures.

    Args:
        root: an empty directory for the data dir, logs and the tool plugin.
        rounds: how many rounds, each ending in a SIGKILL at the next of :data:`POINTS`.
        chats: how many chats write in each round's burst.
        size: messages per chat per burst.
        seed: the random source's seed; the same seed gives the same pauses and moments.
        say: called with one line per round.
    """
    rng = random.Random(seed)
    guests = Guests(chats, rng)
    reached: dict[str, int] = dict.fromkeys(POINTS, 0)
    started = time.monotonic()
    with rig(root) as r:
        for n in range(rounds):
            point = POINTS[n % len(POINTS)]
            hit = _kill_round(r, guests, point, size, rng)
            reached[point] += hit
            say(
                f"round {n + 1}/{rounds}: killed {'at' if hit else 'before reaching'} {point}; "
                f"{len(guests.acknowledged)} acknowledged, {guests.unacknowledged} to redeliver"
            )
        r.server.start()
        for _ in range(5):
            if not guests.unacknowledged:
                break
            guests.redeliver(r.server.post)
        try:
            wait_for(lambda: _settled(r, guests), timeout=_SETTLE_TIMEOUT, interval=0.2)
        except TimeoutError:
            say("the server did not settle; the figures say what is missing")
        r.server.stop()
        figures = check(
            f"crash x{rounds}",
            guests.acknowledged,
            r.server.journal(),
            sent_bodies=[m.body for m in r.whapi.sent],
            running=r.openai.running(),
            data_dir=r.server.data_dir,
            tool_runs=_lines(r.marks),
        )
    figures.extra = {
        "kills": rounds,
        "tool_runs": _lines(r.marks),
        "chats": chats,
        "reached": ",".join(f"{p}:{k}" for p, k in reached.items()),
        "seconds": round(time.monotonic() - started),
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run a campaign from the command line; exit 0 only if every figure is 0."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.campaign")
    parser.add_argument("--rounds", type=int, default=30, help="kills (default 30)")
    parser.add_argument("--chats", type=int, default=8, help="chats writing (default 8)")
    parser.add_argument("--size", type=int, default=3, help="messages per chat per burst")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="conserje-campaign-") as root:
        figures = run_campaign(Path(root), **vars(args), say=print)
    print(figures.report())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
