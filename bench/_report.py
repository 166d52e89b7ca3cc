"""What every benchmark script shares: its report, its header and how it ends.

A :class:`Report` collects table rows (each figure beside its same-run baseline), goal
verdicts, notes and the JSON to write; :func:`header` prints the machine and the code
measured; :func:`finish` prints the table, the goals and the notes, and writes the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _stats import Row, Summary, fmt_summary, machine, machine_lines, render_table, write_json

__all__ = [
    "Report",
    "arguments",
    "code_version",
    "cpu_seconds",
    "events_label",
    "finish",
    "header",
    "log",
]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
"""Where each script writes its JSON and plots unless told otherwise."""

_VERDICTS = {True: "MET    ", False: "NOT MET", None: "n/a    "}
_CPU_TICKS = os.sysconf("SC_CLK_TCK")


def arguments(doc: str, quick: str, out: Path) -> argparse.ArgumentParser:
    """Start a benchmark's command line: its summary, ``--quick`` and ``--out``.

    Args:
        doc: the script's docstring; its first paragraph describes the command.
        quick: what ``--quick`` does in this script.
        out: where the JSON results go by default.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--out", type=Path, default=out, help="JSON results file")
    return parser


@dataclass
class Report:
    """What the run found: table rows, goal verdicts, and the JSON to write."""

    rows: list[Row] = field(default_factory=list)
    goals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def row(
        self,
        section: str,
        measure: str,
        value: Summary,
        fmt: Callable[[float], str],
        baseline: tuple[str, Summary] | None = None,
    ) -> None:
        median, spread = fmt_summary(value, fmt)
        if baseline is None:
            self.rows.append(Row(section, measure, median, spread, "—", "", ""))
            return
        name, base = baseline
        ratio = f"{value.ratio(base):.2f}x"
        self.rows.append(Row(section, measure, median, spread, name, fmt(base.median), ratio))

    def goal(self, name: str, met: bool | None, detail: str) -> None:
        self.goals.append({"goal": name, "met": met, "detail": detail})


def code_version() -> str:
    """The commit being measured, and whether the work tree has uncommitted changes."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def run(*args: str) -> str:
        return subprocess.run(
            [git, *args], cwd=HERE, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = run("rev-parse", "--short", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CPU_TICKS


def events_label(count: int) -> str:
    """``100000`` -> ``10^5``; other counts are printed with separators."""
    exponent = len(str(count)) - 1
    return f"10^{exponent}" if count == 10**exponent else f"{count:,}"


@dataclass(frozen=True)
class Header:
    """When, where and what a benchmark measured."""

    name: str
    quick: bool
    began: float
    info: dict[str, Any]
    version: str


def header(name: str, *, quick: bool) -> Header:
    """Print the benchmark's title, the machine and the code measured; start its clock."""
    began = time.perf_counter()
    info = machine()
    version = code_version()
    lines = [
        f"conserje {name} benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
        f"{' (--quick)' if quick else ''}",
        *machine_lines(info),
        f"Code:   conserje {version}",
        "",
    ]
    print("\n".join(lines), flush=True)
    return Header(name, quick, began, info, version)


def finish(head: Header, report: Report, out: Path, extra: dict[str, Any] | None = None) -> None:
    """Print the table, goals and notes; write everything as JSON to ``out``."""
    wall = time.perf_counter() - head.began
    print(render_table(report.rows))
    if report.goals:
        print("\nGoals:")
        for goal in report.goals:
            print(f"  {_VERDICTS[goal['met']]}  {goal['goal']}: {goal['detail']}")
    if report.notes:
        print("\nNotes:")
        for note in report.notes:
            print(f"  - {note}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nwall time {wall:.0f} s; load average at the end {load}; results in {out}")
    write_json(
        out,
        {
            "benchmark": head.name,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "quick": head.quick,
            "machine": head.info,
            "code": head.version,
            "wall_s": round(wall, 1),
            "load_average_at_end": load,
            **(extra or {}),
            **report.data,
            "goals": report.goals,
            "notes": report.notes,
            "table": render_table(report.rows),
        },
    )
