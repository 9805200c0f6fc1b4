"""Tick labels of the heatmaps: lengths read like the published figures, never wrongly.

Lengths. A grid whose every length has a short exact spelling (``niah.fmt.tokens``:
1K, 1.5K, 32Ki, 1M) is labelled exactly. A grid with lengths that have none
(gkamradt's ``np.linspace(1000, 128000, 35)``: 4735, 8471, ...) is labelled the way
his figures are, rounded to the nearest 1K (1M from a million up; halves round up),
as long as the labels stay distinct and none is more than ``MAX_ROUNDING`` off its
length; else with one decimal, then two; else exactly. The axis then says its ticks
are rounded (``LengthTicks.rounded``). His Claude 2.1 figure rounds the same way
(6853 -> "7K", 100500 -> "101K"); his GPT-4 figure truncates (73571 -> "73K"), which
niah does not copy: it labels 73571 "74K".

Depths. The fewest decimals (at most three) that keep the labels distinct, so a grid of
whole percents reads 7%, 14%, and his sigmoid depths (0.896, 1.199, ...) read 0.9%, 1.2%.

Durations. A video or audio grid's lengths are seconds (``length_unit``): its axis reads
in seconds below 2 minutes, in minutes below 2 hours, else in hours, each label with
the fewest decimals (at most two) that tell the columns apart and keep each within 5%
("Duration (minutes)": 0.5, 1.2, 3), as the Gemini 1.5 report's figures do.

Every label of a grid is drawn (none is dropped to make room) up to ``MAX_TICK_LABELS``;
length labels turn 45 degrees only where horizontal ones would touch (``fit_ticks``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from niah.fmt import tokens

MAX_ROUNDING = 0.10
"""A rounded label may be at most this fraction off its length (1441 is never "1K")."""
MAX_TICK_LABELS = 60
"""Above this many rows or columns, every k-th label is drawn (the figure would have
to be too large to hold them all at a legible size)."""
TICK_PT = 10.0
"""Tick label size: 10 px on the HTML page, where a figure is shown at 1 pt = 1 px."""
GAP_PX = 2.0
"""Horizontal length labels must stay this far apart, in pixels at the figure's dpi."""


@dataclass(frozen=True)
class LengthTicks:
    labels: list[str]
    rounded: bool
    """Some label is not its length exactly (the axis label says so)."""


def _rounded(n: int, decimals: int) -> str:
    if n < 1000:
        return str(n)
    quantum = Decimal(1).scaleb(-decimals)
    value = (Decimal(n) / 1000).quantize(quantum, rounding=ROUND_HALF_UP)
    unit = "K"
    if value >= 1000:
        value, unit = (Decimal(n) / 1_000_000).quantize(quantum, rounding=ROUND_HALF_UP), "M"
    return f"{value.normalize():f}{unit}"


def _value(label: str) -> float:
    if label.endswith("K"):
        return float(label[:-1]) * 1000
    if label.endswith("M"):
        return float(label[:-1]) * 1_000_000
    return float(label)


def length_ticks(lengths: Sequence[int]) -> LengthTicks:
    """Labels of a length axis by the rule in the module docstring."""
    exact = [tokens(int(n)) for n in lengths]
    if all(n < 1000 or not label.isdigit() for n, label in zip(lengths, exact, strict=True)):
        return LengthTicks(exact, False)
    for decimals in (0, 1, 2):
        labels = [_rounded(int(n), decimals) for n in lengths]
        close = all(abs(_value(x) - n) <= MAX_ROUNDING * n
                    for x, n in zip(labels, lengths, strict=True))
        if close and len(set(labels)) == len(labels):
            return LengthTicks(labels, labels != exact)
    return LengthTicks(exact, False)


def length_labels(lengths: Sequence[int]) -> list[str]:
    """``length_ticks(lengths).labels``."""
    return length_ticks(lengths).labels


def depth_labels(depths: Sequence[float]) -> list[str]:
    """0 -> 0%, 11.316 -> 11.3%, with more decimals only where needed to tell apart."""
    for decimals in range(0, 4):
        labels = [f"{round(float(d), decimals):g}%" for d in depths]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{float(d)}%" for d in depths]


def length_axis_label(rounded: bool) -> str:
    return "Context length (tokens; ticks rounded)" if rounded else "Context length (tokens)"


def tick_positions(n: int) -> list[int]:
    """Every index up to ``MAX_TICK_LABELS`` labels, else every k-th."""
    step = max(1, math.ceil(n / MAX_TICK_LABELS))
    return list(range(0, n, step))


def _touch(axes: Axes, fig: Figure) -> bool:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = sorted((t.get_window_extent(renderer) for t in axes.get_xticklabels()
                    if t.get_visible() and t.get_text()), key=lambda b: b.x0)
    return any(b.x0 - a.x1 < GAP_PX for a, b in itertools.pairwise(boxes))


def fit_ticks(fig: Figure, axes: Iterable[Axes]) -> None:
    """Lay the figure out, then turn the length labels of ``axes`` 45 degrees where
    horizontal ones would touch (the layout makes room for them when it is saved)."""
    axes = list(axes)
    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure(): draw it as savefig would
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    for ax in axes:
        if ax.xaxis.get_tick_params().get("labelbottom", True) and _touch(ax, fig):
            for label in ax.get_xticklabels():
                label.set_rotation(45)
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")


DURATION_UNITS = (("hours", 3600.0, 7200.0), ("minutes", 60.0, 120.0), ("seconds", 1.0, 0.0))
"""(name, seconds per unit, the longest duration from which an axis reads in it)."""


def duration_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """The unit a duration axis reads in, and its size in seconds."""
    longest = max(seconds, default=0.0)
    return next((name, size) for name, size, start in DURATION_UNITS if longest >= start)


def duration_labels(seconds: Sequence[float]) -> list[str]:
    """Durations in the axis's unit (``duration_unit``), decimals only where needed."""
    _, size = duration_unit(seconds)
    for decimals in range(0, 3):
        labels = [f"{round(s / size, decimals):g}" for s in seconds]
        close = all(abs(float(x) * size - s) <= MAX_ROUNDING / 2 * s
                    for x, s in zip(labels, seconds, strict=True))
        if close and len(set(labels)) == len(labels):
            return labels
    return [f"{s / size:.3g}" for s in seconds]


def duration_axis_label(seconds: Sequence[float]) -> str:
    return f"Duration ({duration_unit(seconds)[0]})"


def column_labels(lengths: Sequence[int], unit: str = "tokens") -> list[str]:
    """Column labels of a length axis: tokens, or durations when ``unit`` is seconds."""
    return duration_labels(lengths) if unit == "seconds" else length_labels(lengths)


def x_axis_label(lengths: Sequence[int], unit: str = "tokens") -> str:
    if unit == "seconds":
        return duration_axis_label(lengths)
    return length_axis_label(length_ticks(lengths).rounded)


def unit_of(df: object) -> str:
    """``seconds`` when every row of a results frame is a media trial, else ``tokens``."""
    column = getattr(df, "get", lambda _: None)("length_unit")
    if column is None or not len(column):
        return "tokens"
    return "seconds" if bool((column == "seconds").all()) else "tokens"
