"""Shared helpers for the benchmarks: timing, robust summaries, the machine, tables, JSON.

Every benchmark figure is a :class:`Summary` of several runs: its median is the number
to quote, ``low``/``high`` (min-max) and ``q1``/``q3`` (interquartile range) its spread.
A figure is always shown next to a baseline measured in the same run on the same disk,
so a ratio between two medians says more than either number alone.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "Row",
    "Summary",
    "fmt_rate",
    "fmt_seconds",
    "fmt_summary",
    "machine",
    "machine_lines",
    "rates",
    "render_table",
    "summarize",
    "timed",
    "write_json",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Summary:
    """Several runs of one measurement: median, min-max, interquartile range."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    runs: int
    values: tuple[float, ...]

    def ratio(self, baseline: Summary) -> float:
        """Return ``self.median / baseline.median`` (``inf`` if the baseline is 0)."""
        return self.median / baseline.median if baseline.median else float("inf")

    def scaled(self, factor: float) -> Summary:
        """Return the same runs multiplied by ``factor`` (e.g. seconds -> ms)."""
        return summarize([v * factor for v in self.values])

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["values"] = list(self.values)
        return data


def summarize(values: Sequence[float]) -> Summary:
    """Summarise the runs ``values`` (at least one)."""
    if not values:
        raise ValueError("no runs to summarise")
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Summary(
        median=statistics.median(ordered),
        low=ordered[0],
        high=ordered[-1],
        q1=q1,
        q3=q3,
        runs=len(ordered),
        values=tuple(values),
    )


def rates(count: float, seconds: Iterable[float]) -> Summary:
    """Turn run times into a rate summary: ``count`` things per second."""
    return summarize([count / s for s in seconds])


def timed(fn: Callable[[], _T], *, collect: bool = True) -> tuple[float, _T]:
    """Run ``fn`` once; return its wall time in seconds (``perf_counter``) and its result.

    A full garbage collection runs first (unless ``collect`` is false) so one run's
    garbage is not charged to the next.
    """
    if collect:
        gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# -- formatting ---------------------------------------------------------------------------


def fmt_rate(value: float, unit: str = "/s") -> str:
    """Format a rate compactly: ``12.3k/s``, ``1.23M/s``."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{_sig(value / scale)}{suffix}{unit}"
    return f"{_sig(value)}{unit}"


def fmt_seconds(value: float) -> str:
    """Format a duration: ``85 µs``, ``12.3 ms``, ``1.23 s``."""
    if value < 1e-3:
        return f"{_sig(value * 1e6)} µs"
    if value < 1:
        return f"{_sig(value * 1e3)} ms"
    return f"{_sig(value)} s"


def fmt_summary(summary: Summary, fmt: Callable[[float], str]) -> tuple[str, str]:
    """Return the median and the min-max spread of ``summary``, each formatted by ``fmt``."""
    return fmt(summary.median), f"{fmt(summary.low)} - {fmt(summary.high)}"


def _sig(value: float) -> str:
    """Three significant digits, without an exponent."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Row:
    """One line of a results table: a measurement, its baseline and their ratio."""

    section: str
    measure: str
    median: str
    spread: str
    baseline: str
    baseline_median: str
    ratio: str


_HEADERS = Row("section", "measure", "median", "min - max", "baseline", "baseline median", "ratio")


def render_table(rows: Sequence[Row]) -> str:
    """Render rows as an aligned plain-text table (sections separated by a rule)."""
    cells = [list(asdict(r).values()) for r in (_HEADERS, *rows)]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(cells[0]))]
    numeric = {2, 3, 5, 6}

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(cells[0]), rule]
    previous = None
    for values in cells[1:]:
        if previous is not None and values[0] != previous:
            out.append("")
        out.append(line([v if i or values[0] != previous else "" for i, v in enumerate(values)]))
        previous = values[0]
    return "\n".join(out)


# -- the machine --------------------------------------------------------------------------


def machine(directory: Path | None = None) -> dict[str, Any]:
    """Describe the machine and the file system of ``directory`` (default: the temp dir)."""
    directory = directory or Path(tempfile.gettempdir())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": platform.release(),
        "temp_dir": str(directory),
        "filesystem": _filesystem(directory),
        "load_average": _load_average(),
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    """Format :func:`machine`'s description as a few lines."""
    fs = info["filesystem"]
    return [
        f"CPU:    {info['cpu']} ({info['cores']} cores, {info['usable_cores']} usable)",
        f"Memory: {info['memory_gib']} GiB",
        f"Python: {info['python']} ({sys.executable})",
        f"Kernel: Linux {info['kernel']}; load average {info['load_average']} at start",
        f"Disk:   {info['temp_dir']} on {fs.get('device', '?')}, {fs.get('type', '?')} "
        f"(mounted at {fs.get('mount', '?')}, options {fs.get('options', '?')})",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _filesystem(directory: Path) -> dict[str, str]:
    """Return the device, type, mount point and options of the file system of ``directory``.

    ``df -T`` names the file system; ``/proc/mounts`` adds its mount options.
    """
    mounts: dict[str, dict[str, str]] = {}
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype, options, *_ = line.split()
            mounts[mount] = {"device": device, "type": fstype, "mount": mount, "options": options}
    except (OSError, ValueError):
        pass
    real = os.path.realpath(directory)
    inside = [m for m in mounts if real == m or real.startswith(m.rstrip("/") + "/")]
    found = dict(mounts[max(inside, key=len)]) if inside else {}
    df = shutil.which("df")
    if df is not None:
        try:
            out = subprocess.run(
                [df, "-T", str(directory)], capture_output=True, text=True, timeout=10, check=True
            ).stdout.splitlines()
            device, fstype, *_, mount = out[-1].split()
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return found
        options = mounts.get(mount, {}).get("options", found.get("options", "?"))
        found = {"device": device, "type": fstype, "mount": mount, "options": options}
    return found


# -- results ------------------------------------------------------------------------------


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
