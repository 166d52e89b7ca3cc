"""Benchmarks of the JSONL journal: durable appends, replay, and boot to ``/ready``.

Usage::

    .venv/bin/python bench/journal.py [--quick] [--out PATH] [--runs N] [--profile]
                                      [--only {appends,replay,boot}]...

Each figure is the median of several runs, shown with its min-max spread and its ratio
to a baseline measured in the same run, on the same disk:

1. Durable appends/s of one small ``MessageReceived`` per append, from 1, 8 and 32
   writer threads (``fsync=True``), against a bare ``os.write`` + ``os.fdatasync`` loop
   writing equally sized lines, N lines per sync (group commit at its best) and 1 per sync,
   and against the least a group commit of N blocking threads needs in CPython: N threads
   that hand their lines to a bare writer loop and are woken once each line is synced.
2. Replay: events/s of ``JsonlJournal.replay()`` against ``msgspec`` decoding the same
   bytes with ``decode_lines``, and the time to fold the events into ``ChatState``
   projections, both timed in the one pass boot makes (replay and fold interleaved).
3. Boot: process start to ``/ready`` 200 of the real ``conserje serve``, first without
   a snapshot, then again with the snapshot the first boot wrote, against the time to
   read the segment files.
4. Verify: events/s of ``verify_journal()`` (what ``conserje log verify`` runs, every
   line's seal checked) against ``replay()`` of the same journal.

Everything lives in temporary directories under the system temp dir, removed at the end.
Results go to stdout (a table) and to ``bench/results/journal.json`` (with ``--only``,
``journal-<sections>.json``, so a partial run does not replace a full run's results).
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import gc
import hashlib
import io
import itertools
import os
import pstats
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import msgspec
from _report import Report, arguments, events_label, finish, header, log
from _stats import (
    Row,
    fmt_rate,
    fmt_seconds,
    summarize,
    timed,
)

from conserje.eventlog.codec import GENESIS, seal
from conserje.eventlog.events import (
    AnyEvent,
    Event,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    TurnFinished,
    TurnStarted,
)
from conserje.eventlog.jsonl import DEFAULT_SEGMENT_BYTES, JsonlJournal
from conserje.eventlog.projection import ChatState
from conserje.eventlog.reader import verify_journal
from conserje.eventlog.restore import restore
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.segments import list_segments, write_digest
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "journal.json"
SECTIONS = ("appends", "replay", "boot")

WHAPI_TOKEN = "whapi-bench-token"
GUEST_TEXT = "Hola, ¿a qué hora abre la piscina mañana? Somos cuatro."
REPLY_TEXT = "¡Hola! La piscina abre a las 9:00 y cierra a las 20:00. ¿Os reservo tumbonas?"
T0 = 1_800_000_000.0

APPEND_TIMEOUT = 30.0
"""Seconds one append may wait for durability before the run is declared failed."""
READY_TIMEOUT = 180.0
"""Seconds a boot may take to answer ``/ready`` 200."""
READY_POLL = 0.005
"""Seconds between ``/ready`` polls once replay is over (the resolution of boot figures)."""
SLOW_POLL = 0.25
"""Seconds between ``/ready`` polls while the server has not logged the end of replay."""
STOP_TIMEOUT = 30.0

GOAL_GROUP_COMMIT = 2.0
GOAL_REPLAY_S = 3.0
GOAL_READY_S = 3.0
SNAPSHOT_FLAT = 1.25
"""Boot with a snapshot counts as independent of history if 10x the events costs < 1.25x."""


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    runs: int
    appends: dict[int, int]
    """Writer threads -> appends per run (a multiple of the writer count)."""
    sizes: tuple[int, ...]
    """Journal lengths (events) for replay and boot."""
    chats: int = 1000


FULL = Plan(runs=5, appends={1: 2000, 8: 6000, 32: 12000}, sizes=(100_000, 1_000_000))
QUICK = Plan(runs=3, appends={1: 1000, 8: 2000, 32: 4000}, sizes=(100_000,))


# == 1. durable appends ===================================================================


@contextlib.contextmanager
def counting_fdatasync() -> Iterator[list[int]]:
    """Count the ``os.fdatasync`` calls made inside the block (the journal's batches)."""
    calls = [0]
    real = os.fdatasync

    def counted(fd: int) -> None:
        calls[0] += 1
        real(fd)

    os.fdatasync = counted
    try:
        yield calls
    finally:
        os.fdatasync = real


def guest_message(writer: int, n: int) -> MessageReceived:
    """One small event, as a webhook journals it."""
    return MessageReceived(
        chat=f"346{writer:08d}@s.whatsapp.net",
        message_id=f"wamid.bench.{writer}.{n}",
        sender="Lucía",
        text=GUEST_TEXT,
        sent_at=int(T0),
    )


def sample_line(total: int, writers: int) -> bytes:
    """A sealed line as big as the journal writes for these appends (mid-run seq and version)."""
    event = msgspec.structs.replace(
        guest_message(writers - 1, total // writers // 2),
        seq=total // 2,
        version=total // writers // 2,
        ts=time.time(),
    )
    return seal(event, GENESIS)[0]


def journal_appends(root: Path, writers: int, total: int) -> tuple[float, int, int]:
    """Append ``total`` single-event appends from ``writers`` threads; return (s, syncs, bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="journal-", dir=root))
    journal = JsonlJournal(directory, clock=time.time, fsync=True)
    journal.start()
    per_writer = total // writers
    start = threading.Barrier(writers + 1, timeout=APPEND_TIMEOUT)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        events = [guest_message(writer, n) for n in range(per_writer)]
        try:
            start.wait()
            for event in events:
                journal.append([event], timeout=APPEND_TIMEOUT)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
    for thread in threads:
        thread.start()
    gc.collect()
    with counting_fdatasync() as syncs:
        start.wait()
        began = time.perf_counter()
        deadline = began + APPEND_TIMEOUT * 4
        for thread in threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
        seconds = time.perf_counter() - began
    journal.close(timeout=APPEND_TIMEOUT)
    if failures or any(t.is_alive() for t in threads):
        raise RuntimeError(f"append run with {writers} writers failed: {failures[:1]}")
    if journal.last_seq != per_writer * writers:
        raise RuntimeError(f"journal holds {journal.last_seq} events, not {total}")
    size = sum(s.path.stat().st_size for s in list_segments(directory))
    shutil.rmtree(directory)
    return seconds, syncs[0], size


def bare_appends(root: Path, line: bytes, total: int, per_sync: int) -> float:
    """Write ``total`` copies of ``line``, ``per_sync`` per ``os.write`` + ``os.fdatasync``."""
    directory = Path(tempfile.mkdtemp(prefix="bare-", dir=root))
    path = directory / "bare.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    chunk = memoryview(line * per_sync)
    try:
        gc.collect()
        began = time.perf_counter()
        for _ in range(total // per_sync):
            view = chunk
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
        seconds = time.perf_counter() - began
    finally:
        os.close(fd)
    if path.stat().st_size != len(line) * (total // per_sync) * per_sync:
        raise RuntimeError("the bare baseline wrote a wrong number of bytes")
    shutil.rmtree(directory)
    return seconds


def threaded_bare_appends(root: Path, line: bytes, total: int, writers: int) -> float:
    """Write ``total`` lines from ``writers`` threads through the barest group commit.

    Each thread hands ``line`` to a writer thread and blocks on a lock of its own until
    its line is synced; the writer waits for every thread's line (perfect batches: a
    real journal cannot know how many will come), writes them with one ``os.write`` and
    one ``os.fdatasync``, then wakes the first thread, which wakes the next, and so on
    (one at a time is the cheapest way to wake many threads under the GIL). No encoding,
    sealing, checking or time-outs: what is left is the cost of waking blocked threads,
    which any journal whose appenders wait for durability pays once per append.
    """
    directory = Path(tempfile.mkdtemp(prefix="threads-", dir=root))
    fd = os.open(directory / "bare.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    rounds = total // writers
    mutex, full = threading.Lock(), threading.Semaphore(0)
    pending: list[list[Any]] = []
    """One ``[lock, next]`` per waiting thread: its own lock, and the next one to wake."""

    def writer() -> None:
        for _ in range(rounds):
            if not full.acquire(timeout=APPEND_TIMEOUT):
                return
            with mutex:
                batch = pending[:]
                pending.clear()
            view = memoryview(line * len(batch))
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
            for waiter, following in itertools.pairwise(batch):
                waiter[1] = following[0]
            batch[0][0].release()

    def appender() -> None:
        for _ in range(rounds):
            waiter: list[Any] = [threading.Lock(), None]
            waiter[0].acquire()
            with mutex:
                pending.append(waiter)
                if len(pending) == writers:
                    full.release()
            if not waiter[0].acquire(timeout=APPEND_TIMEOUT):
                return
            if waiter[1] is not None:
                waiter[1].release()

    threads = [threading.Thread(target=appender, daemon=True) for _ in range(writers)]
    sync = threading.Thread(target=writer, daemon=True)
    gc.collect()
    began = time.perf_counter()
    for thread in [sync, *threads]:
        thread.start()
    for thread in [sync, *threads]:
        thread.join(APPEND_TIMEOUT * 4)
    seconds = time.perf_counter() - began
    os.close(fd)
    size = (directory / "bare.jsonl").stat().st_size
    shutil.rmtree(directory)
    if size != len(line) * rounds * writers:
        raise RuntimeError("the threaded baseline wrote a wrong number of bytes")
    return seconds


def bench_appends(root: Path, plan: Plan, report: Report) -> None:
    """Section 1: durable appends/s against bare write+fdatasync loops."""
    results: dict[str, Any] = {}
    for writers, total in plan.appends.items():
        line = sample_line(total, writers)
        kinds = ("journal", "batched", "per_line", "threads")
        runs: dict[str, list[float]] = {kind: [] for kind in kinds}
        batches: list[float] = []
        line_bytes = 0.0
        for run in range(plan.runs):
            log(f"appends: {writers} writers, run {run + 1}/{plan.runs}")
            seconds, syncs, size = journal_appends(root, writers, total)
            runs["journal"].append(total / seconds)
            batches.append(total / syncs)
            line_bytes = size / total
            if writers > 1:
                runs["batched"].append(total / bare_appends(root, line, total, writers))
                runs["threads"].append(total / threaded_bare_appends(root, line, total, writers))
            runs["per_line"].append(total / bare_appends(root, line, total, 1))
        if writers == 1:  # one line per sync is both baselines
            runs["batched"] = runs["per_line"]
        journal, batched, per_line = (
            summarize(runs[k]) for k in ("journal", "batched", "per_line")
        )
        label = f"{writers} writer{'s' * (writers > 1)}"
        mean_batch = summarize(batches)
        report.row(
            "appends", f"{label}, appends/s", journal, fmt_rate, (f"bare, {writers}/sync", batched)
        )
        if writers > 1:
            threads = summarize(runs["threads"])
            report.row(
                "appends", f"{label}, appends/s", journal, fmt_rate, ("bare, 1/sync", per_line)
            )
            report.row(
                "appends",
                f"{label}, appends/s",
                journal,
                fmt_rate,
                (f"threads, {writers}/sync", threads),
            )
        report.row("appends", f"{label}, appends per fdatasync", mean_batch, "{:.1f}".format)
        ratio = journal.ratio(batched)
        report.goal(
            f"group commit within {GOAL_GROUP_COMMIT:g}x of bare ({label})",
            ratio >= 1 / GOAL_GROUP_COMMIT,
            f"{fmt_rate(journal.median)} vs {fmt_rate(batched.median)} bare with "
            f"{writers} line{'s' * (writers > 1)} per fdatasync: {1 / ratio:.1f}x slower",
        )
        results[str(writers)] = {
            "appends_per_run": total,
            "journal_line_bytes": round(line_bytes, 1),
            "baseline_line_bytes": len(line),
            "journal_appends_per_s": journal.to_json(),
            "journal_appends_per_fdatasync": mean_batch.to_json(),
            "bare_batched_lines_per_s": batched.to_json(),
            "bare_per_line_lines_per_s": per_line.to_json(),
            "ratio_vs_batched": ratio,
            "ratio_vs_per_line": journal.ratio(per_line),
        }
        if writers > 1:
            results[str(writers)]["bare_threads_lines_per_s"] = threads.to_json()
            results[str(writers)]["ratio_vs_threads"] = journal.ratio(threads)
    report.data["appends"] = results


# == 2. replay ============================================================================


def history(total: int, chats: int) -> Iterator[Event]:
    """Yield ``total`` stamped events: finished, replied turns, round-robin over ``chats``.

    A turn is 7 events (message, turn, run started/finished, reply sending/sent, turn
    finished); the first ``total % 7`` turns carry two messages so the count is exact.
    """
    turns, extra = divmod(total, 7)
    if extra > turns:
        raise ValueError(f"{total} events is too few for whole turns")
    versions = [0] * chats
    seq = 0
    for k in range(turns):
        c, n = k % chats, k // chats
        chat, tid = f"346{c:08d}@s.whatsapp.net", f"turn-{c}-{n}"
        mids = [f"wamid.{c}.{n}.{i}" for i in range(2 if k < extra else 1)]
        steps: list[Event] = [
            MessageReceived(chat=chat, message_id=m, sender="Lucía", text=GUEST_TEXT, sent_at=k)
            for m in mids
        ]
        steps += [
            TurnStarted(chat=chat, turn_id=tid, message_ids=mids),
            RunStarted(
                chat=chat,
                turn_id=tid,
                response_id=f"resp_{k:012x}",
                model="gpt-5.4-mini",
                background=True,
            ),
            RunFinished(
                chat=chat,
                turn_id=tid,
                response_id=f"resp_{k:012x}",
                status="completed",
                text=REPLY_TEXT,
            ),
            ReplySending(chat=chat, turn_id=tid, chunk=0, text=REPLY_TEXT),
            ReplySent(chat=chat, turn_id=tid, chunk=0, whapi_id=f"wamid.out.{k}", text=REPLY_TEXT),
            TurnFinished(chat=chat, turn_id=tid, outcome="replied"),
        ]
        for step in steps:
            seq += 1
            versions[c] += 1
            yield msgspec.structs.replace(step, seq=seq, version=versions[c], ts=T0 + seq * 0.01)


def write_journal(directory: Path, total: int, chats: int) -> dict[str, int]:
    """Write a sealed journal of ``total`` events straight to disk, in 64 MiB segments.

    Lines are sealed with :func:`seal` as the journal does, one event per append, and a
    new segment starts once one reaches the journal's default size, as in production,
    where the segment closed gets its digest (:func:`write_digest`).
    """
    directory.mkdir(parents=True)
    h = GENESIS
    segments = written = 0
    out = None
    size = 0
    buffer: list[bytes] = []
    try:
        for event in history(total, chats):
            if out is None:
                out = (directory / f"{event.seq:020d}.jsonl").open("wb")
                segments += 1
            line, h = seal(event, h)
            buffer.append(line)
            size += len(line)
            if size >= DEFAULT_SEGMENT_BYTES:
                data = b"".join(buffer)
                out.write(data)
                out.close()
                write_digest(Path(out.name), size, hashlib.sha256(data).hexdigest())
                written += size
                out, size, buffer = None, 0, []
        if out is not None:
            out.write(b"".join(buffer))
            written += size
    finally:
        if out is not None:
            out.close()
    return {"events": total, "bytes": written, "segments": segments}


def read_segments(directory: Path) -> int:
    """Read every segment file; return the bytes read (the boot baseline)."""
    return sum(len(s.path.read_bytes()) for s in list_segments(directory))


def decode_baseline(directory: Path) -> int:
    """Read and decode every line with msgspec alone (no seal, no checks); return the count."""
    decoder = msgspec.json.Decoder(AnyEvent)
    return sum(len(decoder.decode_lines(s.path.read_bytes())) for s in list_segments(directory))


def restore_all(directory: Path, snapshots: Path) -> int:
    """Boot's whole in-process restore (no snapshot): replay + projection; return events."""
    return restore(JsonlJournal(directory, clock=time.time), snapshots, SeenIds()).replayed


@dataclass(frozen=True)
class ReplayRun:
    """One pass over the journal as boot makes it, timed in two parts."""

    replay_s: float
    """Time spent inside ``JsonlJournal.replay()``: reading, checking, decoding."""
    projection_s: float
    """Time spent folding the events into ``ChatState`` (and the seen ids), as restore does."""
    events: int
    chats: int


def replay_and_project(directory: Path) -> ReplayRun:
    """Replay the journal and fold each event as it comes, exactly as boot's restore does.

    The events are not kept (boot does not keep them either: a list of 10^6 live events
    would make the garbage collector slower and the figure worse than boot's). Each
    fold is timed with ``perf_counter``; the rest of the pass is replay. The timer costs
    about 0.1 µs per event, charged half to each part.
    """
    clock = time.perf_counter
    seen = SeenIds()
    states: dict[str, ChatState] = {}
    projection = 0.0
    count = 0
    gc.collect()
    began = clock()
    for event in JsonlJournal(directory, clock=time.time).replay():
        folding = clock()
        state = states.get(event.chat)
        if state is None:
            state = states[event.chat] = ChatState(event.chat)
        state.apply(event)
        if isinstance(event, MessageReceived):
            seen.claim((event.message_id,))
        projection += clock() - folding
        count += 1
    total = clock() - began
    return ReplayRun(total - projection, projection, count, len(states))


def bench_replay(root: Path, size: int, journal_dir: Path, plan: Plan, report: Report) -> None:
    """Section 2: replay and projection of one journal against msgspec's decode_lines."""
    runs: dict[str, list[float]] = {"decode": [], "replay": [], "project": []}
    chats = 0
    for run in range(plan.runs):
        log(f"replay: {events_label(size)} events, run {run + 1}/{plan.runs}")
        seconds, count = timed(lambda: decode_baseline(journal_dir))
        if count != size:
            raise RuntimeError(f"decoded {count} events, not {size}")
        runs["decode"].append(seconds)
        one = replay_and_project(journal_dir)
        if one.events != size:
            raise RuntimeError(f"replayed {one.events} events, not {size}")
        runs["replay"].append(one.replay_s)
        runs["project"].append(one.projection_s)
        chats = one.chats
    decode, rep, proj = (summarize(runs[k]) for k in ("decode", "replay", "project"))
    both = summarize([r + p for r, p in zip(runs["replay"], runs["project"], strict=True)])
    rate = {k: summarize([size / s for s in v]) for k, v in runs.items()}
    label = events_label(size)
    base = ("decode_lines", decode)
    report.row(
        "replay",
        f"{label} events, replay() events/s",
        rate["replay"],
        fmt_rate,
        ("decode_lines", rate["decode"]),
    )
    report.row("replay", f"{label} events, replay() time", rep, fmt_seconds, base)
    report.row("replay", f"{label} events, projection time", proj, fmt_seconds)
    report.row("replay", f"{label} events, replay + projection (boot)", both, fmt_seconds, base)
    if size >= 1_000_000:
        scaled = rep.median * 1_000_000 / size
        report.goal(
            f"replay of 10^6 events under {GOAL_REPLAY_S:g} s",
            scaled < GOAL_REPLAY_S,
            f"replay() {fmt_seconds(rep.median)}, {rep.ratio(decode):.1f}x msgspec's "
            f"decode_lines ({fmt_seconds(decode.median)}); replay + projection as at boot "
            f"{fmt_seconds(both.median)}",
        )
    report.data.setdefault("replay", {})[str(size)] = {
        "chats": chats,
        "decode_lines_s": decode.to_json(),
        "replay_s": rep.to_json(),
        "projection_s": proj.to_json(),
        "replay_plus_projection_s": both.to_json(),
        "replay_events_per_s": rate["replay"].to_json(),
        "decode_lines_events_per_s": rate["decode"].to_json(),
        "projection_events_per_s": rate["project"].to_json(),
        "ratio_replay_vs_decode_time": rep.ratio(decode),
    }


def profile_restore(journal_dir: Path, snapshots: Path, top: int = 15) -> str:
    """Profile boot's restore (replay + projection) once; return the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(restore_all, journal_dir, snapshots)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


# == 3. boot to ready =====================================================================


@dataclass(frozen=True)
class Boot:
    """One boot: seconds from process start to ``/ready`` 200, and what the log said."""

    seconds: float
    replayed: int | None
    from_snapshot: bool
    snapshot_write_s: float | None
    warnings: list[str]


_RESTORED = re.compile(r"journal restored: .* (\d+) events replayed( after snapshot)?")
_SNAPSHOT = re.compile(r"snapshot \S+ written in ([\d.]+) s")


def boot_once(data_dir: Path, env: dict[str, str], log_path: Path) -> Boot:
    """Start ``conserje serve`` on ``data_dir``, time it to ``/ready`` 200, stop it (SIGTERM).

    ``/ready`` is polled every :data:`READY_POLL` s only once the server has logged that
    its journal is restored (until then every :data:`SLOW_POLL` s): an HTTP request
    handled during replay takes the GIL from the boot thread and would slow what is
    measured.
    """
    server = ServerProcess(data_dir, env, log_path=log_path)
    try:
        began = time.perf_counter()
        server.start(wait=False)
        seconds = _wait_ready(server, began)
    finally:
        code = server.stop(timeout=STOP_TIMEOUT)
        server.__exit__(None, None, None)  # closes its HTTP client
    if code not in (0, -signal.SIGTERM):
        raise RuntimeError(f"server exited with {code}:\n{server.log_text()[-2000:]}")
    text = server.log_text()
    restored = _RESTORED.search(text)
    written = _SNAPSHOT.search(text)
    return Boot(
        seconds,
        int(restored.group(1)) if restored else None,
        bool(restored and restored.group(2)),
        float(written.group(1)) if written else None,
        [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line],
    )


def _wait_ready(server: ServerProcess, began: float) -> float:
    """Poll until ``/ready`` answers 200; return the seconds since ``began``."""
    deadline = began + READY_TIMEOUT
    restored = False
    last_poll = 0.0
    while True:
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError(f"not ready within {READY_TIMEOUT} s: {server.data_dir}")
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_text()[-2000:]}")
        restored = restored or "journal restored" in server.log_text()
        if restored or now - last_poll >= SLOW_POLL:
            last_poll = now
            with contextlib.suppress(httpx2.HTTPError):
                if server.get("/ready", timeout=5.0).status_code == 200:
                    return time.perf_counter() - began
        time.sleep(READY_POLL)


def snapshot_files(data_dir: Path) -> list[Path]:
    """The snapshot files the server wrote in ``data_dir``."""
    directory = data_dir / "snapshots"
    return sorted(directory.glob("*.snapshot")) if directory.exists() else []


@dataclass
class BootRuns:
    """The runs of section 3 for one journal."""

    read: list[float] = field(default_factory=list)
    cold: list[Boot] = field(default_factory=list)
    warm: list[Boot] = field(default_factory=list)
    """Second boots that started from the snapshot."""
    ignored: list[Boot] = field(default_factory=list)
    """Second boots that found a snapshot but replayed the journal anyway."""
    snapshot_bytes: int = 0


def bench_boot(
    root: Path, data_dir: Path, *, label: str, env: dict[str, str], plan: Plan, report: Report
) -> dict[str, Any]:
    """Section 3: boot to ready without, then with, a snapshot; baseline: read the segments."""
    runs = BootRuns()
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    for run in range(plan.runs):
        log(f"boot: {label}, run {run + 1}/{plan.runs}")
        shutil.rmtree(data_dir / "snapshots", ignore_errors=True)
        runs.read.append(timed(lambda: read_segments(data_dir / "journal"))[0])
        runs.cold.append(boot_once(data_dir, env, logs / f"{label}-{run}-cold.log"))
        files = snapshot_files(data_dir)
        if not files:
            continue
        runs.snapshot_bytes = files[-1].stat().st_size
        warm = boot_once(data_dir, env, logs / f"{label}-{run}-warm.log")
        (runs.warm if warm.from_snapshot else runs.ignored).append(warm)
    return boot_rows(label, runs, report)


def boot_rows(label: str, runs: BootRuns, report: Report) -> dict[str, Any]:
    """Add section 3's rows for one journal; return its JSON."""
    read, cold = summarize(runs.read), summarize([b.seconds for b in runs.cold])
    base = ("read segments", read)
    report.row("boot", f"{label}: ready, no snapshot", cold, fmt_seconds, base)
    result: dict[str, Any] = {
        "read_segments_s": read.to_json(),
        "ready_no_snapshot_s": cold.to_json(),
        "events_replayed_no_snapshot": sorted({b.replayed for b in runs.cold}, key=str),
        "ready_with_snapshot_s": None,
        "snapshot_bytes": runs.snapshot_bytes,
        "second_boots_that_ignored_the_snapshot": len(runs.ignored),
        "warnings": sorted({w for b in runs.cold + runs.warm + runs.ignored for w in b.warnings}),
    }
    if runs.warm:
        warm = summarize([b.seconds for b in runs.warm])
        report.row("boot", f"{label}: ready, with snapshot", warm, fmt_seconds, base)
        result["ready_with_snapshot_s"] = warm.to_json()
        result["events_replayed_with_snapshot"] = sorted({b.replayed for b in runs.warm}, key=str)
    if runs.ignored:
        report.notes.append(
            f"{label}: {len(runs.ignored)} of {len(runs.cold)} second boots found the snapshot "
            "but did not use it (replayed the whole journal); they are left out of the figure"
        )
    if not runs.warm:
        what = "no snapshot written" if not runs.ignored else "snapshot never used"
        report.rows.append(Row("boot", f"{label}: ready, with snapshot", "n/a", "", what, "", ""))
        report.notes.append(f"{label}: with snapshot: {what}")
    for warning in result["warnings"]:
        report.notes.append(f"{label}: server logged: {_strip_log_prefix(warning)}")
    writes = [b.snapshot_write_s for b in runs.cold if b.snapshot_write_s is not None]
    if writes:
        write = summarize(writes)
        report.row("boot", f"{label}: snapshot write (in 1st boot)", write, fmt_seconds)
        result["snapshot_write_s"] = write.to_json()
    return result


def _strip_log_prefix(line: str) -> str:
    """Drop the time stamp and level from a server log line; shorten temp paths."""
    text = line.split(" ", 3)[-1].strip()
    return re.sub(r"/\S*/conserje-bench-[^/]+/", ".../", text)


def bench_boots(
    root: Path,
    data_dirs: dict[int, Path],
    plan: Plan,
    report: Report,
    settings: dict[str, str] | None = None,
) -> None:
    """Section 3 for the empty journal and every journal size, sharing one pair of fakes.

    ``settings`` are extra environment variables for the server (e.g. a lower
    ``JOURNAL_SNAPSHOT_EVENTS``, so a short journal is snapshotted too).
    """
    results: dict[str, Any] = {}
    with FakeOpenAI() as openai, FakeWhapi(token=WHAPI_TOKEN) as whapi:
        env = {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": openai.base_url,
            "WHAPI_TOKEN": WHAPI_TOKEN,
            "WHAPI_API_URL": whapi.url,
            "LOG_LEVEL": "INFO",
            **(settings or {}),
        }
        empty = root / "data-empty"
        runs = []
        for run in range(plan.runs):
            log(f"boot: empty journal, run {run + 1}/{plan.runs}")
            shutil.rmtree(empty, ignore_errors=True)
            runs.append(boot_once(empty, env, root / f"empty-{run}.log").seconds)
        reference = summarize(runs)
        report.row("boot", "empty journal: ready (process start)", reference, fmt_seconds)
        results["empty"] = {"ready_s": reference.to_json()}
        for size, data_dir in data_dirs.items():
            label = f"{events_label(size)} events"
            results[str(size)] = bench_boot(
                root, data_dir, label=label, env=env, plan=plan, report=report
            )
    report.data["boot"] = results
    judge_boot(results, report)


def judge_boot(results: dict[str, Any], report: Report) -> None:
    """Turn the boot figures into goal verdicts."""
    sizes = sorted(int(k) for k in results if k.isdigit())
    largest = sizes[-1]
    measured = largest >= 1_000_000
    note = "" if measured else " (10^6 not measured with --quick)"
    warm = {s: results[str(s)]["ready_with_snapshot_s"] for s in sizes}
    for kind, figure in (
        ("first boot, no snapshot", results[str(largest)]["ready_no_snapshot_s"]),
        ("second boot, with snapshot", warm[largest]),
    ):
        report.goal(
            f"ready within {GOAL_READY_S:g} s at 10^6 events ({kind})",
            (figure is not None and figure["median"] < GOAL_READY_S) if measured else None,
            f"{events_label(largest)} events: "
            + (fmt_seconds(figure["median"]) if figure else "no usable snapshot")
            + note,
        )
    empty = fmt_seconds(results["empty"]["ready_s"]["median"])
    missing = [events_label(s) for s, w in warm.items() if w is None]
    name = "boot with a snapshot independent of history"
    if missing:
        report.goal(name, False, f"no usable snapshot at {', '.join(missing)} events")
        return
    medians = ", ".join(f"{events_label(s)}: {fmt_seconds(w['median'])}" for s, w in warm.items())
    if len(sizes) < 2:
        report.goal(name, None, f"one size only{note}; {medians}; empty journal {empty}")
        return
    small, large = warm[sizes[0]]["median"], warm[largest]["median"]
    report.goal(
        name,
        large / small < SNAPSHOT_FLAT,
        f"{medians}: {large / small:.2f}x for {largest // sizes[0]}x the events "
        f"(goal < {SNAPSHOT_FLAT:g}x); empty journal {empty}",
    )


# == 4. verify ===============================================================================


def replay_only(directory: Path) -> int:
    """Replay the journal, keeping nothing; return the events read."""
    return sum(1 for _ in JsonlJournal(directory, clock=time.time).replay())


def bench_verify(size: int, journal_dir: Path, plan: Plan, report: Report) -> None:
    """Section 4: ``verify_journal()`` against ``replay()`` of the same journal."""
    runs: dict[str, list[float]] = {"replay": [], "verify": []}
    for run in range(plan.runs):
        log(f"verify: {events_label(size)} events, run {run + 1}/{plan.runs}")
        seconds, count = timed(lambda: replay_only(journal_dir))
        runs["replay"].append(seconds)
        seconds, verified = timed(lambda: verify_journal(journal_dir))
        runs["verify"].append(seconds)
        if count != size or not verified.ok or verified.events != size:
            raise RuntimeError(f"replayed {count}, verified {verified} of {size} events")
    rate = {k: summarize([size / s for s in v]) for k, v in runs.items()}
    seconds = {k: summarize(v) for k, v in runs.items()}
    label = events_label(size)
    report.row(
        "verify",
        f"{label} events, verify_journal() events/s",
        rate["verify"],
        fmt_rate,
        ("replay()", rate["replay"]),
    )
    report.row(
        "verify",
        f"{label} events, verify_journal() time",
        seconds["verify"],
        fmt_seconds,
        ("replay()", seconds["replay"]),
    )
    report.data.setdefault("verify", {})[str(size)] = {
        "verify_s": seconds["verify"].to_json(),
        "replay_s": seconds["replay"].to_json(),
        "verify_events_per_s": rate["verify"].to_json(),
        "ratio_verify_vs_replay_time": seconds["verify"].ratio(seconds["replay"]),
    }


# == main =================================================================================


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the table; write the JSON."""
    parser = arguments(__doc__, "fewer runs, 10^5 events only", DEFAULT_OUT)
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one restore of 10^5 events"
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default: 5, 3 with --quick)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); the JSON then goes to "
        "bench/results/journal-<sections>.json unless --out says otherwise",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs is not None:
        plan = dataclasses.replace(plan, runs=max(1, args.runs))
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    if args.only and args.out == DEFAULT_OUT:
        args.out = DEFAULT_OUT.with_name(f"journal-{'-'.join(sections)}.json")
    head = header("journal", quick=args.quick)
    report = Report()
    profile = ""
    with tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp:
        root = Path(tmp)
        if "appends" in sections:
            bench_appends(root, plan, report)
        data_dirs: dict[int, Path] = {}
        journals = "replay" in sections or "boot" in sections or args.profile
        for size in plan.sizes if journals else ():
            log(f"writing a journal of {events_label(size)} events")
            data_dirs[size] = root / f"data-{size}"
            seconds, shape = timed(
                lambda size=size: write_journal(data_dirs[size] / "journal", size, plan.chats)
            )
            report.data.setdefault("journals", {})[str(size)] = {
                **shape,
                "chats": plan.chats,
                "written_in_s": round(seconds, 2),
            }
            if "replay" in sections:
                bench_replay(root, size, data_dirs[size] / "journal", plan, report)
                bench_verify(size, data_dirs[size] / "journal", plan, report)
        if args.profile:
            log("profiling one restore of the smallest journal")
            profile = profile_restore(data_dirs[plan.sizes[0]] / "journal", root / "no-snapshots")
        if "boot" in sections:
            bench_boots(root, data_dirs, plan, report)
    extra = {"runs": plan.runs, "plan": dataclasses.asdict(plan), "sections": sections}
    finish(head, report, args.out, extra)
    if profile:
        print("\ncProfile of restore (replay + projection), top functions by own time:")
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
