"""Benchmark of the actor world: messages per second through the supervisor to chat actors.

Usage::

    .venv/bin/python bench/actors.py [--quick] [--runs N] [--chats N] [--messages N]

An in-process ``Runtime`` (the server's own wiring, against the fake OpenAI and Whapi
servers, with a long buffer window so no turn starts) is booted on an empty journal.
Each run tells its supervisor M guest messages (one ``Deliver`` each), round-robin over
N chats whose actors are already live, and waits until the chats' statuses on the
board account for every one: the supervisor routed it, the chat actor folded it into
its projection and buffer, and reported back (one ``ChatStatus``) to the
supervisor, which published it. Baselines, measured in the same run:

* Pykka's own round trip: ``ask`` to an actor that answers at once, one at a time;
* a bare router: one Pykka actor forwarding M ``tell``s to N actors that each count
  and report back to it, the same topology with none of Conserje's work.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pykka
from _report import RESULTS, Report, arguments, finish, header, log
from _stats import fmt_rate, summarize
from memory import WHAPI_TOKEN, settings_env

from conserje.actors.messages import Deliver
from conserje.config import load_settings
from conserje.eventlog.events import MessageReceived
from conserje.runtime import Runtime
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.wait import wait_for

DEFAULT_OUT = RESULTS / "actors.json"
SETTLE_TIMEOUT = 300.0


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    runs: int
    chats: int
    messages: int
    asks: int


FULL = Plan(runs=5, chats=1000, messages=20_000, asks=5_000)
QUICK = Plan(runs=2, chats=50, messages=1_000, asks=500)


class Echo(pykka.ThreadingActor):
    """Answers at once: Pykka's round trip with nothing else in it."""

    def on_receive(self, message: Any) -> Any:
        return message


class Counter(pykka.ThreadingActor):
    """A bare chat actor: counts what it is told and reports back to its router."""

    def __init__(self, router: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self._router = router
        self._count = 0

    def on_receive(self, message: Any) -> None:
        self._count += 1
        self._router.tell(("done", self._count))


class Router(pykka.ThreadingActor):
    """A bare supervisor: forwards each message to its chat's actor and counts reports."""

    def __init__(self, chats: int, finished: threading.Event) -> None:
        super().__init__()
        self._chats = chats
        self._routes: list[pykka.ActorRef[Any]] = []
        self._expected = 0
        self._reports = 0
        self._finished = finished

    def on_start(self) -> None:
        self._routes = [Counter.start(self.actor_ref) for _ in range(self._chats)]

    def on_stop(self) -> None:
        for ref in self._routes:
            ref.stop()

    def on_receive(self, message: Any) -> None:
        match message:
            case ("expect", count):
                self._expected, self._reports = count, 0
                self._finished.clear()
            case ("done", _):
                self._reports += 1
                if self._reports == self._expected:
                    self._finished.set()
            case (n, _):
                self._routes[n % self._chats].tell(message)


def ask_round_trips(count: int) -> float:
    """Seconds for ``count`` sequential asks to an actor that answers at once."""
    ref = Echo.start()
    try:
        began = time.perf_counter()
        for n in range(count):
            ref.ask(n, timeout=30)
        return time.perf_counter() - began
    finally:
        ref.stop()


def bare_router(plan: Plan) -> float:
    """Seconds for ``plan.messages`` through a bare router to ``plan.chats`` actors."""
    finished = threading.Event()
    router = Router.start(plan.chats, finished)
    try:
        router.ask(("expect", plan.messages), timeout=30)
        began = time.perf_counter()
        for n in range(plan.messages):
            router.tell((n, "hola"))
        if not finished.wait(SETTLE_TIMEOUT):
            raise TimeoutError("the bare router did not finish")
        return time.perf_counter() - began
    finally:
        router.stop()


def waiting(runtime: Runtime) -> int:
    """Guest messages the board shows waiting, over every chat."""
    return sum(status.waiting for status in runtime.board.busy().values())


def deliveries(chats: int, count: int, tag: str) -> list[Deliver]:
    """``count`` stamped guest messages, one ``Deliver`` each, round-robin over the chats."""
    now = time.time()
    out = []
    for n in range(count):
        event = MessageReceived(
            chat=f"37{n % chats:09d}@s.whatsapp.net",
            message_id=f"wamid.{tag}.{n}",
            sender="Lucía",
            text="Hola, ¿a qué hora abre la piscina mañana? Somos cuatro.",
            sent_at=int(now),
        )
        out.append(Deliver((msgspec.structs.replace(event, seq=n + 1, version=1, ts=now),)))
    return out


def through_supervisor(runtime: Runtime, messages: list[Deliver]) -> float:
    """Seconds from the first ``tell`` until the board accounts for every message."""
    expected = waiting(runtime) + len(messages)
    began = time.perf_counter()
    for message in messages:
        runtime.supervisor.tell(message)
    wait_for(
        lambda: waiting(runtime) >= expected,
        timeout=SETTLE_TIMEOUT,
        interval=0.002,
        what="every message on the board",
    )
    return time.perf_counter() - began


def measure(plan: Plan, report: Report) -> None:
    """Alternate the three measurements in each run; add the rows."""
    found: dict[str, list[float]] = {"supervisor": [], "router": [], "ask": []}
    with (
        tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp,
        FakeOpenAI() as openai,
        FakeWhapi(token=WHAPI_TOKEN, echo=False) as whapi,
    ):
        runtime = Runtime(load_settings(settings_env(Path(tmp), openai, whapi)))
        try:
            runtime.boot()
            log(f"actors: starting {plan.chats} chat actors")
            through_supervisor(runtime, deliveries(plan.chats, plan.chats, "warm"))
            for run in range(plan.runs):
                log(f"actors: run {run + 1}/{plan.runs}")
                batch = deliveries(plan.chats, plan.messages, f"r{run}")
                found["supervisor"].append(plan.messages / through_supervisor(runtime, batch))
                found["router"].append(plan.messages / bare_router(plan))
                found["ask"].append(plan.asks / ask_round_trips(plan.asks))
        finally:
            runtime.shutdown(timeout=30)
    supervisor, router, ask = (summarize(found[k]) for k in ("supervisor", "router", "ask"))
    label = f"{plan.messages:,} messages to {plan.chats:,} chats"
    report.row("actors", f"{label}, messages/s", supervisor, fmt_rate, ("bare router", router))
    report.row(
        "actors", f"{label}, messages/s", supervisor, fmt_rate, ("Pykka ask round trip", ask)
    )
    report.row("baselines", "bare router (tell, report back)", router, fmt_rate)
    report.row("baselines", "Pykka ask round trip, 1 at a time", ask, fmt_rate)
    report.data["actors"] = {
        "supervisor_messages_per_s": supervisor.to_json(),
        "bare_router_messages_per_s": router.to_json(),
        "pykka_ask_round_trips_per_s": ask.to_json(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    parser = arguments(__doc__, "a smoke run: few chats, messages", DEFAULT_OUT)
    parser.add_argument("--runs", type=int, help="runs per figure")
    parser.add_argument("--chats", type=int, help="chat actors")
    parser.add_argument("--messages", type=int, help="messages per run")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = Plan(
        max(1, args.runs or plan.runs),
        args.chats or plan.chats,
        args.messages or plan.messages,
        plan.asks,
    )
    head = header("actors", quick=args.quick)
    report = Report()
    measure(plan, report)
    finish(head, report, args.out, {"plan": plan.__dict__})
    return 0


if __name__ == "__main__":
    sys.exit(main())
