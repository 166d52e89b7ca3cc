"""Benchmark of memory: per live chat actor, per passivated chat, and 10,000 chats.

Usage::

    .venv/bin/python bench/memory.py [--quick] [--runs N] [--actors N] [--chats N]

1. **Live chat actor.** An in-process ``Runtime`` (the server's own wiring, against the
   fake OpenAI and Whapi servers) is booted on an empty journal; its supervisor is handed
   one guest message for each of N new chats, and starts one ``ChatActor`` (one thread)
   per chat, which holds the message in its buffer (a long window: no turn starts).
   Resident memory (RSS) grows by the figure per actor. Baselines in the same run: a bare
   Pykka ``ThreadingActor`` doing nothing, and a bare thread blocked on a queue.
2. **Passivated chat.** The projections (``ChatState``) of N chats that each had one
   finished turn (7 events: message, turn, run, reply, ...), measured with
   ``tracemalloc``, against the bytes of those events in the journal.
3. **10,000 chats that each talked once**, in the real ``conserje serve``: a journal of
   10,000 finished one-message turns is booted, and the server's RSS at ``/ready`` is
   compared with the same server's on an empty journal. Every chat is then passivated
   (a projection in the supervisor, no thread), as after a restart.

Goals (issue 8): a passivated chat well under 2 KiB; a live actor under 64 KiB.
"""

from __future__ import annotations

import gc
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pykka
from _report import RESULTS, Report, arguments, finish, header, log
from _stats import summarize
from journal import history, write_journal

from conserje.actors.messages import Deliver
from conserje.config import load_settings
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.projection import ChatState
from conserje.runtime import Runtime
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess
from conserje.testing.wait import wait_for

DEFAULT_OUT = RESULTS / "memory.json"
WHAPI_TOKEN = "whapi-bench-token"
PAGE = os.sysconf("SC_PAGE_SIZE")
GOAL_PASSIVATED = 2048
GOAL_LIVE = 64 * 1024
SETTLE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    runs: int
    actors: int
    chats: int


FULL = Plan(runs=3, actors=1000, chats=10_000)
QUICK = Plan(runs=2, actors=50, chats=300)


def fmt_bytes(value: float) -> str:
    """``1536`` -> ``1.50 KiB``."""
    for scale, unit in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def rss(pid: int | None = None) -> int:
    """Resident bytes of a process (this one by default)."""
    statm = Path(f"/proc/{pid or 'self'}/statm").read_text().split()
    return int(statm[1]) * PAGE


def settled_rss() -> int:
    """This process's RSS after a full collection and a moment for threads to park."""
    gc.collect()
    time.sleep(0.2)
    gc.collect()
    return rss()


def settings_env(root: Path, openai: FakeOpenAI, whapi: FakeWhapi) -> dict[str, str]:
    """A server whose bursts never close during the measurement."""
    return {
        "CONSERJE_DATA_DIR": str(root),
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": openai.base_url,
        "WHAPI_TOKEN": WHAPI_TOKEN,
        "WHAPI_API_URL": whapi.url,
        "JOURNAL_FSYNC": "off",
        "BUFFER_WINDOW_MS": "600000",
        "BUFFER_MAX_WAIT_MS": "3600000",
        "BUFFER_MAX_MESSAGES": "10000",
        "ACTOR_MAX_LIVE": "1000000",
        "ACTOR_IDLE_MS": "86400000",
        "LOG_LEVEL": "WARNING",
    }


def per_item(count: int, build: Callable[[], Any], teardown: Callable[[Any], None]) -> float:
    """RSS growth per item from ``build()`` (which makes ``count`` items); then tear down."""
    before = settled_rss()
    built = build()
    after = settled_rss()
    teardown(built)
    return (after - before) / count


class Idle(pykka.ThreadingActor):
    """Pykka's own cost: an actor that holds nothing and is never told anything."""


def bare_actors(count: int) -> list[pykka.ActorRef[Any]]:
    return [Idle.start() for _ in range(count)]


def stop_actors(refs: list[pykka.ActorRef[Any]]) -> None:
    for ref in refs:
        ref.stop(block=False)
    for ref in refs:
        ref.actor_stopped.wait(timeout=30)


def bare_threads(count: int) -> tuple[list[threading.Thread], queue.Queue[None]]:
    """Threads parked on one queue, as an idle actor's thread is."""
    inbox: queue.Queue[None] = queue.Queue()
    threads = [threading.Thread(target=inbox.get, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, inbox


def stop_threads(built: tuple[list[threading.Thread], queue.Queue[None]]) -> None:
    threads, inbox = built
    for _ in threads:
        inbox.put(None)
    for thread in threads:
        thread.join(timeout=30)


def chat_actors(runtime: Runtime, count: int, run: int) -> int:
    """Have the supervisor start ``count`` chat actors, each holding one guest message."""
    events = []
    base = runtime.board.live_actors
    for n in range(count):
        event = MessageReceived(
            chat=f"36{run:02d}{n:08d}@s.whatsapp.net",
            message_id=f"wamid.mem.{run}.{n}",
            sender="Lucía",
            text="Hola, ¿a qué hora abre la piscina mañana? Somos cuatro.",
            sent_at=int(time.time()),
        )
        events.append(msgspec.structs.replace(event, seq=n + 1, version=1, ts=time.time()))
    for event in events:
        runtime.supervisor.tell(Deliver((event,)))
    wait_for(
        lambda: (
            runtime.board.live_actors >= base + count and len(runtime.board.busy()) >= base + count
        ),
        timeout=SETTLE_TIMEOUT,
        what=f"{count} chat actors started",
    )
    return count


def live_actor_runs(plan: Plan) -> tuple[dict[str, list[float]], int]:
    """Section 1: RSS per chat actor, per bare Pykka actor, per bare thread."""
    found: dict[str, list[float]] = {"chat": [], "pykka": [], "thread": []}
    stack = threading.stack_size()
    with (
        tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp,
        FakeOpenAI() as openai,
        FakeWhapi(token=WHAPI_TOKEN, echo=False) as whapi,
    ):
        runtime = Runtime(load_settings(settings_env(Path(tmp), openai, whapi)))
        try:
            runtime.boot()
            for run in range(plan.runs):
                log(f"memory: run {run + 1}/{plan.runs}, {plan.actors} live actors of each kind")
                found["thread"].append(
                    per_item(plan.actors, lambda: bare_threads(plan.actors), stop_threads)
                )
                found["pykka"].append(
                    per_item(plan.actors, lambda: bare_actors(plan.actors), stop_actors)
                )
                # Chat actors stay up (the supervisor owns them): each run adds a new set.
                found["chat"].append(
                    per_item(
                        plan.actors,
                        lambda run=run: chat_actors(runtime, plan.actors, run),
                        lambda _: None,
                    )
                )
        finally:
            runtime.shutdown(timeout=30)
    return found, stack


def one_turn_states(chats: int) -> tuple[dict[str, ChatState], int]:
    """Project ``chats`` chats that each had one finished turn; return them and their bytes."""
    states: dict[str, ChatState] = {}
    encoded = 0
    encoder = msgspec.json.Encoder()
    for event in history(chats * 7, chats):
        encoded += len(encoder.encode(event)) + 1
        state = states.get(event.chat)
        if state is None:
            state = states[event.chat] = ChatState(event.chat)
        state.apply(event)
    return states, encoded


def passivated_runs(plan: Plan) -> tuple[list[float], list[float]]:
    """Section 2: tracemalloc bytes per projection, and journal bytes per chat."""
    traced, journal_bytes = [], []
    for run in range(plan.runs):
        log(f"memory: run {run + 1}/{plan.runs}, {plan.chats} passivated projections")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            states, encoded = one_turn_states(plan.chats)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        traced.append((after - before) / len(states))
        journal_bytes.append(encoded / len(states))
        del states
    return traced, journal_bytes


_RESTORED = re.compile(r"journal restored: seq \d+, (\d+) chats")


def server_runs(plan: Plan) -> tuple[list[float], list[float]]:
    """Section 3: the real server's RSS at /ready, on an empty journal and on N chats."""
    empty, full = [], []
    with (
        tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp,
        FakeOpenAI() as openai,
        FakeWhapi(token=WHAPI_TOKEN, echo=False) as whapi,
    ):
        root = Path(tmp)
        log(f"memory: writing a journal of {plan.chats} one-turn chats")
        write_journal(root / "chats" / "journal", plan.chats * 7, plan.chats)
        env = {
            k: v
            for k, v in settings_env(root, openai, whapi).items()
            if k not in ("CONSERJE_DATA_DIR", "LOG_LEVEL")
        }
        for run in range(plan.runs):
            log(f"memory: run {run + 1}/{plan.runs}, the server on 0 and {plan.chats} chats")
            for name, into in (("empty", empty), ("chats", full)):
                data = root / name
                shutil.rmtree(data / "snapshots", ignore_errors=True)
                with ServerProcess(data, {**env, "LOG_LEVEL": "INFO"}) as server:
                    assert server.process is not None
                    time.sleep(0.5)  # let the boot thread's garbage go
                    into.append(rss(server.process.pid))
                    restored = _RESTORED.search(server.log_text())
                    chats = int(restored.group(1)) if restored else -1
                    if name == "chats" and chats != plan.chats:
                        raise RuntimeError(f"the server restored {chats} chats")
    return empty, full


def measure(plan: Plan, report: Report) -> None:
    """Run the three sections; add rows and goals."""
    live, stack = live_actor_runs(plan)
    chat, pykka_actor, thread = (summarize(live[k]) for k in ("chat", "pykka", "thread"))
    label = f"{plan.actors} live"
    report.row(
        "live actor",
        f"{label}: RSS per chat actor",
        chat,
        fmt_bytes,
        ("bare Pykka actor", pykka_actor),
    )
    report.row(
        "live actor", f"{label}: RSS per chat actor", chat, fmt_bytes, ("bare thread", thread)
    )
    stack_note = (
        f"thread stack size {fmt_bytes(stack)}" if stack else "thread stack size: the default"
    )
    report.goal(
        f"a live chat actor under {fmt_bytes(GOAL_LIVE)}",
        chat.median < GOAL_LIVE,
        f"{fmt_bytes(chat.median)} of RSS per actor ({stack_note}); a bare Pykka actor "
        f"{fmt_bytes(pykka_actor.median)}, a bare thread {fmt_bytes(thread.median)}",
    )
    traced, encoded = passivated_runs(plan)
    projection, on_disk = summarize(traced), summarize(encoded)
    report.row(
        "passivated",
        f"{plan.chats} one-turn chats: bytes per projection",
        projection,
        fmt_bytes,
        ("its 7 events as JSON", on_disk),
    )
    empty, full = server_runs(plan)
    base, loaded = summarize(empty), summarize(full)
    per_chat = summarize([(f - e) / plan.chats for e, f in zip(empty, full, strict=True)])
    report.row(
        "server",
        f"RSS at /ready, {plan.chats} one-turn chats",
        loaded,
        fmt_bytes,
        ("empty journal", base),
    )
    report.row(
        "server",
        "RSS per passivated chat",
        per_chat,
        fmt_bytes,
        ("projection (traced)", projection),
    )
    report.goal(
        f"a passivated chat well under {fmt_bytes(GOAL_PASSIVATED)}",
        projection.median < GOAL_PASSIVATED / 2,
        f"{fmt_bytes(projection.median)} per projection (tracemalloc, the goal's measure); "
        f"the server's RSS grows by {fmt_bytes(per_chat.median)} per chat with {plan.chats} "
        "chats, which also counts each chat's seen message id and the heap that replay "
        "and the boot snapshot leave allocated",
    )
    report.data["memory"] = {
        "thread_stack_size": stack,
        "live_rss_per_chat_actor_b": chat.to_json(),
        "live_rss_per_pykka_actor_b": pykka_actor.to_json(),
        "live_rss_per_thread_b": thread.to_json(),
        "projection_traced_b": projection.to_json(),
        "projection_events_json_b": on_disk.to_json(),
        "server_rss_empty_b": base.to_json(),
        "server_rss_chats_b": loaded.to_json(),
        "server_rss_per_chat_b": per_chat.to_json(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    parser = arguments(__doc__, "a smoke run: few actors and chats", DEFAULT_OUT)
    parser.add_argument("--runs", type=int, help="runs per figure")
    parser.add_argument("--actors", type=int, help="live actors per run")
    parser.add_argument("--chats", type=int, help="passivated chats")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = Plan(
        max(1, args.runs or plan.runs), args.actors or plan.actors, args.chats or plan.chats
    )
    head = header("memory", quick=args.quick)
    report = Report()
    measure(plan, report)
    finish(head, report, args.out, {"plan": plan.__dict__})
    return 0


if __name__ == "__main__":
    sys.exit(main())
