"""PNG line plots of the scaling curves, drawn with matplotlib without a display."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # after mpl.use: the backend must be chosen first

__all__ = ["Series", "line_plot"]


@dataclass(frozen=True)
class Series:
    """One curve: x values, the median y of each, and the min-max spread around it."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


def line_plot(
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    series: Sequence[Series],
    log_x: bool = False,
    log_y: bool = False,
) -> Path:
    """Draw ``series`` as lines with markers and shaded spreads; write a PNG to ``path``."""
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for curve in series:
            (line,) = axes.plot(curve.x, curve.y, marker="o", label=curve.label)
            if curve.low is not None and curve.high is not None:
                axes.fill_between(curve.x, curve.low, curve.high, alpha=0.2, color=line.get_color())
        if log_x:
            axes.set_xscale("log")
        if log_y:
            axes.set_yscale("log")
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(visible=True, which="both", alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path
