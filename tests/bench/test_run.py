"""The benchmarks run end to end at tiny size and produce their tables, results and plots.

Timings are not asserted here (they belong to the benchmarks' own reports): this checks
that ``bench/run.py --quick`` still works against the current code, so a change that
breaks a benchmark is caught in CI rather than when someone next measures.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("intake", "turn_overhead", "boot", "memory", "actors")
PLOTS = ("turn_throughput.png", "boot_time.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run every benchmark once at tiny size (about 20 s on 2 idle cores)."""
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--runs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        cwd=ROOT,
    )
    return result, out


@pytest.mark.timeout(300)  # the module's fixture runs every benchmark inside this test
def test_every_benchmark_prints_its_table_with_a_baseline(quick_run):
    result, _ = quick_run
    assert result.returncode == 0, result.stderr[-3000:]
    for name in BENCHMARKS:
        title = name.replace("_", " ")
        assert f"conserje {title} benchmark" in result.stdout
    assert result.stdout.count("section  ") == len(BENCHMARKS)
    # Every table sets figures against a baseline measured in the same run.
    for column in ("median", "min - max", "baseline", "ratio"):
        assert result.stdout.count(column) >= len(BENCHMARKS)
    assert "=== goals" in result.stdout


def test_every_benchmark_writes_its_results_and_goals(quick_run):
    _, out = quick_run
    for name in BENCHMARKS:
        results = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert results["benchmark"] == name.replace("_", " ")
        assert results["machine"]["cores"] >= 1
        assert results["table"].startswith("section")
        ratios = [line for line in results["table"].splitlines() if line.rstrip().endswith("x")]
        assert ratios, f"{name}: no figure against a baseline"
    goals = [g for n in BENCHMARKS for g in json.loads((out / f"{n}.json").read_text())["goals"]]
    assert {g["met"] for g in goals} <= {True, False, None}
    assert len(goals) >= 6


@pytest.mark.parametrize("plot", PLOTS)
def test_scaling_curves_are_drawn_as_png(quick_run, plot):
    _, out = quick_run
    data = (out / plot).read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert width >= 400
    assert height >= 300
