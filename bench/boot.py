"""Benchmark of boot: process start to ``/ready`` against the size of the journal.

Usage::

    .venv/bin/python bench/boot.py [--quick] [--runs N] [--sizes 10000,100000,1000000]

For each size, a sealed journal of that many events (finished turns over 1000 chats,
written straight to disk as the journal would) is booted by the real ``conserje serve``:
first without a snapshot (it replays everything and writes one, as
``JOURNAL_SNAPSHOT_EVENTS`` is set to the smallest size), then again from that snapshot.
The baseline is the time to merely read the segment files. The same machinery as
``bench/journal.py``'s boot section, over more sizes, drawn as ``boot_time.png`` (boot
time against journal size).

Goal (issue 8): ready within 3 seconds at 10^6 events.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _plots import Series, line_plot
from _report import RESULTS, Report, arguments, events_label, finish, header, log
from _stats import timed
from journal import Plan, bench_boots, write_journal

DEFAULT_OUT = RESULTS / "boot.json"
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
CHATS = 1000


def measure(sizes: tuple[int, ...], runs: int, report: Report) -> None:
    """Write a journal per size and boot each, without and with a snapshot."""
    plan = Plan(runs=runs, appends={}, sizes=sizes, chats=CHATS)
    with tempfile.TemporaryDirectory(prefix="conserje-bench-") as tmp:
        root = Path(tmp)
        data_dirs = {}
        for size in sizes:
            log(f"writing a journal of {events_label(size)} events")
            data_dirs[size] = root / f"data-{size}"
            seconds, shape = timed(
                lambda size=size: write_journal(data_dirs[size] / "journal", size, CHATS)
            )
            report.data.setdefault("journals", {})[str(size)] = {
                **shape,
                "chats": CHATS,
                "written_in_s": round(seconds, 2),
            }
        # Every size gets a snapshot at its first boot, not only those past the default.
        snapshot_at = {"JOURNAL_SNAPSHOT_EVENTS": str(min(sizes))}
        bench_boots(root, data_dirs, plan, report, snapshot_at)


def plot(report: Report, sizes: tuple[int, ...], directory: Path) -> Path:
    """Draw boot time against journal size: no snapshot, with one, reading the files."""
    boot = report.data["boot"]

    def series(label: str, key: str) -> Series | None:
        found = [(s, boot[str(s)][key]) for s in sizes if boot[str(s)].get(key)]
        if not found:
            return None
        return Series(
            label,
            [s for s, _ in found],
            [f["median"] for _, f in found],
            [f["low"] for _, f in found],
            [f["high"] for _, f in found],
        )

    curves = [
        series("ready, no snapshot (full replay)", "ready_no_snapshot_s"),
        series("ready, with snapshot", "ready_with_snapshot_s"),
        series("read the segment files (baseline)", "read_segments_s"),
    ]
    empty = boot["empty"]["ready_s"]["median"]
    curves.append(Series("ready, empty journal", list(sizes), [empty] * len(sizes)))
    return line_plot(
        directory / "boot_time.png",
        title="Process start to /ready against journal size",
        xlabel="events in the journal",
        ylabel="seconds",
        series=[c for c in curves if c is not None],
        log_x=True,
        log_y=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON and the plot."""
    parser = arguments(__doc__, "a smoke run: small journals", DEFAULT_OUT)
    parser.add_argument("--plots", type=Path, help="where the PNG goes (default: beside --out)")
    parser.add_argument("--runs", type=int, help="boots per figure (default 3, 2 with --quick)")
    parser.add_argument("--sizes", help="comma-separated journal lengths in events")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    runs = max(1, args.runs or (2 if args.quick else 3))
    head = header("boot", quick=args.quick)
    report = Report()
    measure(sizes, runs, report)
    png = plot(report, sizes, args.plots or args.out.parent)
    report.notes.append(f"plot: {png}")
    finish(head, report, args.out, {"runs": runs, "sizes": list(sizes)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
