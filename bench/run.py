"""Run every benchmark of issue 8 and print each one's table, then every goal's verdict.

Usage::

    .venv/bin/python bench/run.py [--quick] [--runs N] [--only intake,boot] [--out DIR]

Each benchmark runs as its own process (so one's threads and memory do not skew the
next), prints its table (medians of several runs, min-max spread, ratio to a baseline
measured in the same run) and writes ``DIR/<name>.json``; ``turn_overhead`` and ``boot``
also draw ``DIR/turn_throughput.png`` and ``DIR/boot_time.png``. The full run takes
about 10 minutes on 2 cores; ``--quick`` is a smoke run of well under a minute whose
figures mean little. ``bench/journal.py`` (issue 3) is run with ``--journal``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _report import RESULTS, log

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("intake", "turn_overhead", "boot", "memory", "actors")
TIMEOUT = 900.0
"""Seconds one benchmark may run before it is stopped and reported as failed."""
_VERDICTS = {True: "MET    ", False: "NOT MET", None: "n/a    "}


def run_one(name: str, out: Path, *, quick: bool, runs: int | None) -> bool:
    """Run ``bench/<name>.py``, its output straight to ours; return whether it succeeded."""
    command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out / f"{name}.json")]
    if quick:
        command.append("--quick")
    if runs is not None:
        command += ["--runs", str(runs)]
    print(f"\n=== {name} {'=' * (70 - len(name))}", flush=True)
    try:
        code = subprocess.run(command, timeout=TIMEOUT, check=False).returncode
    except subprocess.TimeoutExpired:
        log(f"{name}: stopped after {TIMEOUT:.0f} s")
        return False
    if code != 0:
        log(f"{name}: exited with {code}")
    return code == 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the goals; exit non-zero if any benchmark failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of every benchmark")
    parser.add_argument("--runs", type=int, help="runs per figure, for every benchmark")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON and PNG")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--journal", action="store_true", help="also run bench/journal.py")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - set(BENCHMARKS) - {"journal"})
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.journal and "journal" not in names:
        names.append("journal")
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    failed = [n for n in names if not run_one(n, args.out, quick=args.quick, runs=args.runs)]
    print(f"\n=== goals {'=' * 65}")
    for name in names:
        path = args.out / f"{name}.json"
        if name in failed or not path.exists():
            print(f"  FAILED   {name}: no results")
            continue
        for goal in json.loads(path.read_text(encoding="utf-8"))["goals"]:
            print(f"  {_VERDICTS[goal['met']]}  {name}: {goal['goal']}: {goal['detail']}")
    print(f"\nall benchmarks: {time.perf_counter() - began:.0f} s; results in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
