"""Benchmark of a turn's own overhead, with a model that answers at once.

Usage::

    .venv/bin/python bench/turn_overhead.py [--quick] [--runs N] [--chats 1,10,100,1000]

The real ``conserje serve`` (``JOURNAL_FSYNC=always``) talks to the fake OpenAI server,
which answers ``POST /v1/responses`` completed at once (``OPENAI_BACKGROUND=false``: no
polling), and to the fake Whapi server, which stamps each send as it arrives. The
overhead of a turn is the time from the webhook's 200 to the reply reaching the fake
Whapi, minus the buffer window (``BUFFER_WINDOW_MS``) the turn must wait by design. It
includes the ticker's resolution (a burst's deadline is noticed at the next tick), the
journal's fsyncs, the model call and the send.

1. One chat, sequential turns: p50 and p99 of the overhead per run, against the
   fakes' own round trip (one create at the fake OpenAI plus one send at the fake
   Whapi, from this process) measured in the same run.
2. N chats at once (each one message, posted by 16 threads): p50 and p99 of the
   overhead, and turns per second from the first post to the last reply, against the
   single chat's turns per second in the same run. Drawn as
   ``turn_throughput.png`` (throughput against concurrent chats).

Goals (issue 8): p99 overhead under 20 ms for one chat; throughput that scales with
chats until the CPU is saturated (the server's CPU use is printed beside it).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from _plots import Series, line_plot
from _report import RESULTS, Report, arguments, cpu_seconds, finish, header, log
from _stats import Summary, fmt_rate, fmt_seconds, summarize

from conserje.testing import payloads
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess

DEFAULT_OUT = RESULTS / "turn_overhead.json"
WHAPI_TOKEN = "whapi-bench-token"
WINDOW_MS = 100
"""The buffer window: a burst becomes a turn after this much quiet."""
POSTERS = 16
"""Threads posting webhooks at once in the many-chats runs (Whapi's parallel deliveries)."""
REPLY_TIMEOUT = 120.0
"""Seconds the replies to one batch may take before the run is declared failed."""
GOAL_P99_ONE_CHAT = 0.020


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    runs: int
    sequential_turns: int
    chats: tuple[int, ...]


FULL = Plan(runs=3, sequential_turns=40, chats=(1, 10, 100, 1000))
QUICK = Plan(runs=2, sequential_turns=5, chats=(1, 5, 20))


@dataclass
class Batch:
    """The figures of one batch of chats each sending one message at once."""

    overheads: list[float]
    seconds: float
    cpu_seconds: float

    @property
    def throughput(self) -> float:
        return len(self.overheads) / self.seconds


@dataclass
class Runs:
    """Every run's figures, by what was measured."""

    baseline: list[float] = field(default_factory=list)
    sequential: list[list[float]] = field(default_factory=list)
    batches: dict[int, list[Batch]] = field(default_factory=dict)


def server_env(openai: FakeOpenAI, whapi: FakeWhapi) -> dict[str, str]:
    """A durable server whose model answers at once and whose window is short."""
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": openai.base_url,
        "OPENAI_BACKGROUND": "false",
        "WHAPI_TOKEN": WHAPI_TOKEN,
        "WHAPI_API_URL": whapi.url,
        "JOURNAL_FSYNC": "always",
        "BUFFER_WINDOW_MS": str(WINDOW_MS),
        "LOG_LEVEL": "WARNING",
    }


def replies(whapi: FakeWhapi, chats: set[str], deadline: float) -> dict[str, float]:
    """Wait until every chat in ``chats`` got a reply; return each one's arrival time."""
    while True:
        arrived: dict[str, float] = {}
        for sent in whapi.sent:
            if sent.chat_id in chats and sent.chat_id not in arrived:
                arrived[sent.chat_id] = sent.received_at
        if len(arrived) == len(chats):
            return arrived
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(chats) - len(arrived)} of {len(chats)} chats got no reply")
        time.sleep(0.005)


class Poster:
    """Posts one-message webhooks to the server and notes when each got its 200."""

    def __init__(self, server: ServerProcess) -> None:
        self._local = threading.local()
        self._url = f"{server.url}/hook"
        self._clients: list[httpx2.Client] = []
        self._lock = threading.Lock()

    def post(self, chat: str, text: str) -> float:
        """Post one guest message; return the wall-clock time of its 200."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx2.Client(timeout=30.0, trust_env=False)
            with self._lock:
                self._clients.append(client)
        answer = client.post(self._url, json=payloads.text_message(chat, text, name="Lucía"))
        at = time.time()
        if answer.status_code != 200 or answer.json().get("received") != 1:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
        return at

    def close(self) -> None:
        for client in self._clients:
            client.close()


def fakes_round_trip(openai: FakeOpenAI, whapi: FakeWhapi, count: int) -> list[float]:
    """Time ``count`` pairs of one model create and one Whapi send, from this process."""
    seconds = []
    with httpx2.Client(timeout=30.0, trust_env=False) as client:
        for n in range(count):
            began = time.perf_counter()
            client.post(
                f"{openai.base_url}/responses",
                headers={"Authorization": "Bearer sk-bench"},
                json={"model": "gpt-5.4-mini", "input": f"hola {n}"},
            ).raise_for_status()
            client.post(
                f"{whapi.url}/messages/text",
                headers={"Authorization": f"Bearer {WHAPI_TOKEN}"},
                json={"to": "34600000000", "body": f"echo: hola {n}"},
            ).raise_for_status()
            seconds.append(time.perf_counter() - began)
    return seconds


def sequential(poster: Poster, whapi: FakeWhapi, chat: str, turns: int) -> list[float]:
    """One chat, one message at a time, each after the previous reply; return overheads."""
    overheads = []
    for n in range(turns):
        before = len(whapi.sent_to(chat))
        acked = poster.post(chat, f"pregunta {n}")
        deadline = time.monotonic() + REPLY_TIMEOUT
        while len(whapi.sent_to(chat)) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to turn {n}")
            time.sleep(0.002)
        overheads.append(whapi.sent_to(chat)[before].received_at - acked - WINDOW_MS / 1000)
    return overheads


def batch(whapi: FakeWhapi, server: ServerProcess, chats: list[str]) -> Batch:
    """Every chat sends one message at once; return their overheads and the throughput.

    The posting threads' connections are closed after the batch: Waitress accepts only
    so many at once, and idle keep-alive ones would pile up over the batches.
    """
    assert server.process is not None
    poster = Poster(server)
    cpu = cpu_seconds(server.process.pid)
    began = time.time()
    try:
        with ThreadPoolExecutor(POSTERS) as pool:
            posted = pool.map(lambda c: poster.post(c, "hola"), chats)
            acked = dict(zip(chats, posted, strict=True))
    finally:
        poster.close()
    arrived = replies(whapi, set(chats), time.monotonic() + REPLY_TIMEOUT)
    last = max(arrived.values())
    used = cpu_seconds(server.process.pid) - cpu
    overheads = [arrived[c] - acked[c] - WINDOW_MS / 1000 for c in chats]
    return Batch(overheads, last - began - WINDOW_MS / 1000, used)


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method; the largest value for tiny samples)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(plan: Plan) -> Runs:
    """Run every batch on one server; sequential turns and the baseline in each run."""
    runs = Runs()
    with (
        tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp,
        FakeOpenAI() as openai,
        FakeWhapi(token=WHAPI_TOKEN, echo=False) as whapi,
        ServerProcess(Path(tmp) / "data", server_env(openai, whapi)) as server,
    ):
        poster = Poster(server)
        try:
            for run in range(plan.runs):
                log(f"turn overhead: run {run + 1}/{plan.runs}, baseline and one chat")
                runs.baseline.append(statistics.median(fakes_round_trip(openai, whapi, 20)))
                chat = f"34{run:09d}@s.whatsapp.net"
                runs.sequential.append(sequential(poster, whapi, chat, plan.sequential_turns))
                for count in plan.chats:
                    log(f"turn overhead: run {run + 1}/{plan.runs}, {count} chats at once")
                    # Fresh chats in every batch: each batch starts its chats' actors.
                    chats = [f"35{run:02d}{count:05d}{n:05d}@s.whatsapp.net" for n in range(count)]
                    runs.batches.setdefault(count, []).append(batch(whapi, server, chats))
        finally:
            poster.close()
    return runs


def report_runs(runs: Runs, plan: Plan, report: Report, plots: Path) -> None:
    """Table rows, goals, JSON and the throughput plot."""
    base = summarize(runs.baseline)
    p50 = summarize([percentile(r, 50) for r in runs.sequential])
    p99 = summarize([percentile(r, 99) for r in runs.sequential])
    baseline = ("fakes' round trip", base)
    report.row("1 chat", "overhead p50 (sequential turns)", p50, fmt_seconds, baseline)
    report.row("1 chat", "overhead p99 (sequential turns)", p99, fmt_seconds, baseline)
    report.goal(
        f"p99 overhead under {GOAL_P99_ONE_CHAT * 1000:g} ms for 1 chat",
        p99.median < GOAL_P99_ONE_CHAT,
        f"{fmt_seconds(p99.median)} (p50 {fmt_seconds(p50.median)}; the fakes' round trip "
        f"alone {fmt_seconds(base.median)})",
    )
    single = summarize([b.throughput for b in runs.batches[plan.chats[0]]])
    curve: dict[int, dict[str, Summary]] = {}
    for count, batches in runs.batches.items():
        label = f"{count} chat{'s' * (count > 1)} at once"
        figures = {
            "p50": summarize([percentile(b.overheads, 50) for b in batches]),
            "p99": summarize([percentile(b.overheads, 99) for b in batches]),
            "throughput": summarize([b.throughput for b in batches]),
            "cpu": summarize([b.cpu_seconds / b.seconds for b in batches]),
        }
        curve[count] = figures
        report.row(label, "overhead p50", figures["p50"], fmt_seconds, baseline)
        report.row(label, "overhead p99", figures["p99"], fmt_seconds, baseline)
        report.row(
            label,
            "turns/s",
            figures["throughput"],
            fmt_rate,
            (f"{plan.chats[0]} chat, turns/s", single),
        )
        report.row(label, "server CPU (cores busy)", figures["cpu"], "{:.2f}".format)
    largest = max(curve)
    scaling = curve[largest]["throughput"].ratio(single)
    report.goal(
        "throughput scales with chats until the CPU is saturated",
        None,
        f"{largest} chats: {fmt_rate(curve[largest]['throughput'].median)} turns/s, "
        f"{scaling:.1f}x of 1 chat, server using {curve[largest]['cpu'].median:.2f} of "
        f"{os.cpu_count()} cores (the benchmark's own fakes and posters use the rest)",
    )
    counts = sorted(curve)
    png = line_plot(
        plots / "turn_throughput.png",
        title="Turns per second against concurrent chats (model answers at once)",
        xlabel="chats sending one message at once",
        ylabel="turns per second (first post to last reply)",
        series=[
            Series(
                "conserje serve, JOURNAL_FSYNC=always",
                counts,
                [curve[c]["throughput"].median for c in counts],
                [curve[c]["throughput"].low for c in counts],
                [curve[c]["throughput"].high for c in counts],
            ),
            Series(
                "1 chat's rate x chats (linear scaling)",
                counts,
                [single.median * c for c in counts],
            ),
        ],
        log_x=True,
        log_y=True,
    )
    report.notes.append(f"plot: {png}")
    report.data["turn_overhead"] = {
        "window_s": WINDOW_MS / 1000,
        "fakes_round_trip_s": base.to_json(),
        "one_chat": {
            "p50_s": p50.to_json(),
            "p99_s": p99.to_json(),
            "overheads_s": runs.sequential,
        },
        "batches": {str(c): {k: v.to_json() for k, v in f.items()} for c, f in curve.items()},
        "plot": str(png),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON and the plot."""
    parser = arguments(__doc__, "a smoke run: few, small batches", DEFAULT_OUT)
    parser.add_argument("--plots", type=Path, help="where the PNG goes (default: beside --out)")
    parser.add_argument("--runs", type=int, help="runs per figure")
    parser.add_argument("--chats", help="comma-separated batch sizes, e.g. 1,10,100,1000")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    chats = tuple(int(c) for c in args.chats.split(",")) if args.chats else plan.chats
    plan = Plan(max(1, args.runs or plan.runs), plan.sequential_turns, chats)
    head = header("turn overhead", quick=args.quick)
    report = Report()
    report_runs(measure(plan), plan, report, args.plots or args.out.parent)
    finish(head, report, args.out, {"plan": plan.__dict__})
    return 0


if __name__ == "__main__":
    sys.exit(main())
