"""Several models in one figure, each on its own grid: the Gemini 1.5 report's layout.

One row of panels per model; with ``split_at`` (e.g. 1M) the lengths are cut into two
columns of panels, up to and including it and beyond. Every panel draws its model's own
depths and lengths, so no panel has empty rows or columns (gkamradt's Claude 2.1 ran
35 x 35, his GPT-4 Turbo 15 x 15: neither is drawn on the union of both). The panels of a
column share one length scale, so a length both models ran at sits at the same x:

- when every model's lengths are an unbroken run of all the models' lengths (the same
  grid, or GPT-4 Turbo's 1K-128K beneath Gemini's 1K-1M), columns are equal-width
  categories of that union, as in the one-model heatmap;
- otherwise x is the length itself, on a linear or a log scale (whichever spaces the
  models' own lengths more evenly), and each cell reaches halfway to its neighbours.

A model that ran no length in a column leaves that panel out; one colour scale (and one
colour bar) serves every panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from niah.analysis import grid, select, series_labels
from niah.report.cells import LEGEND_ORDER, legend_handles
from niah.report.heatmap import (
    ANNOTATE_MAX_CELLS,
    ANNOTATE_MAX_COLUMNS,
    LABEL_PT,
    LEGEND_PT,
    TITLE_PT,
    colorbar,
    draw_grid,
    finish,
    heading,
    kinds_of,
    legend_columns,
    new_figure,
)
from niah.report.scale import ScoreScale, display_name_of, normalize_judge, scale_of
from niah.report.ticks import length_axis_label, length_ticks, unit_of, x_axis_label

MAX_WIDTH_IN = 16.0


def _spread(values: Sequence[float]) -> float:
    """How unevenly ``values`` (sorted) are spaced: the coefficient of variation of gaps."""
    gaps = np.diff(np.asarray(values, dtype=float))
    return float(gaps.std() / gaps.mean()) if len(gaps) > 1 and gaps.mean() > 0 else 0.0


@dataclass
class LengthAxis:
    """The x positions of one column of panels (one side of ``split_at``)."""

    runs: list[list[int]]
    """Each model's lengths in this column (empty: the model has none here)."""
    union: list[int] = field(init=False)
    categorical: bool = field(init=False)
    log: bool = field(init=False)
    typical: float = field(init=False)

    def __post_init__(self) -> None:
        self.union = sorted({n for run in self.runs for n in run})
        where = {n: k for k, n in enumerate(self.union)}
        self.categorical = all(
            not run or where[run[-1]] - where[run[0]] == len(run) - 1 for run in self.runs
        )
        many = [run for run in self.runs if len(run) > 2] or [self.union]
        linear = sum(_spread(run) for run in many)
        logged = sum(_spread(np.log10(run).tolist()) for run in many)
        self.log = not self.categorical and logged < linear - 1e-9
        gaps = [g for run in self.runs if len(run) > 1 for g in np.diff(self._pos(run))]
        if not gaps and len(self.union) > 1:
            gaps = list(np.diff(self._pos(self.union)))
        self.typical = float(np.median(gaps)) if gaps else 1.0

    def _pos(self, lengths: Sequence[int]) -> np.ndarray:
        if self.categorical:
            return np.asarray([self.union.index(n) for n in lengths], dtype=float)
        values = np.asarray(lengths, dtype=float)
        return np.log10(values) if self.log else values / 1000.0

    def edges(self, lengths: Sequence[int]) -> np.ndarray:
        """Cell edges of a model's own lengths: halfway between neighbours."""
        pos = self._pos(lengths)
        if len(pos) == 1:
            return np.array([pos[0] - self.typical / 2, pos[0] + self.typical / 2])
        mids = (pos[:-1] + pos[1:]) / 2
        return np.concatenate([[pos[0] - (pos[1] - pos[0]) / 2], mids,
                               [pos[-1] + (pos[-1] - pos[-2]) / 2]])

    def limits(self) -> tuple[float, float]:
        edges = [self.edges(run) for run in self.runs if run]
        return float(min(e[0] for e in edges)), float(max(e[-1] for e in edges))

    def weight(self) -> float:
        """About how many cells wide the column is (its share of the figure's width)."""
        lo, hi = self.limits()
        return max(1.0, (hi - lo) / self.typical)


def _combine(dfs_or_df: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    if isinstance(dfs_or_df, pd.DataFrame):
        return dfs_or_df
    frames = []
    seen: set[str] = set()
    for k, frame in enumerate(dfs_or_df):
        frame = frame.copy()
        labels = frame["series"] if "series" in frame.columns else frame["model"]
        clash = set(labels) & seen
        frame["series"] = [f"{x} #{k + 1}" if x in clash else x for x in labels]
        seen |= set(frame["series"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def side(length: int, split_at: int | None, column: int) -> bool:
    """Whether ``length`` is drawn in column 0 (up to ``split_at``) or 1 (beyond it)."""
    beyond = split_at is not None and length > split_at
    return beyond == (column == 1)


def _row_height(n_depths: int) -> float:
    """Inches for one model's row: ~14 pt a depth row, room for its title and ticks."""
    return min(8.5, max(2.8, 1.6 + 0.2 * n_depths))


def plot_comparison(
    dfs_or_df: pd.DataFrame | Sequence[pd.DataFrame],
    models: Sequence[str] | None = None,
    split_at: int | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Several models, one row of panels each, each panel on the model's own grid.

    ``split_at`` (e.g. 1_000_000) cuts the lengths into two columns of panels: up to
    and including it, and the longer ones. ``annotate`` writes scores in cells (None:
    when every model's grid is small; True: wherever the cells can hold them).
    """
    df = normalize_judge(_combine(dfs_or_df))
    labels = list(models) if models else series_labels(df)
    parts = [select(df, m)[1] for m in labels]
    unit = unit_of(df)
    own = [sorted({int(x) for x in sub["context_length"]}) for sub in parts]
    depths = [sorted({float(x) for x in sub["requested_depth"]}) for sub in parts]
    axes_x = [a for a in (LengthAxis([[n for n in lengths if side(n, split_at, k)]
                                      for lengths in own]) for k in (0, 1)) if a.union]
    weights = [a.weight() for a in axes_x]
    width = min(MAX_WIDTH_IN, max(7.5, 3.6 + 0.36 * sum(weights)))
    heights = [_row_height(len(d)) for d in depths]
    fig = new_figure(width, 1.4 + (0.6 if title else 0.0) + sum(heights))
    panels = fig.subplots(len(labels), len(axes_x), squeeze=False, gridspec_kw={
        "width_ratios": weights, "height_ratios": heights})
    mesh: QuadMesh | None = None
    handles: dict[str, Patch | Line2D] = {}
    scales: list[ScoreScale] = []
    drawn: list[Axes] = []
    asked = annotate is not None
    if annotate is None:  # all panels or none, by the one-model heatmap's rule
        annotate = all(len(n) * len(d) <= ANNOTATE_MAX_CELLS and len(n) <= ANNOTATE_MAX_COLUMNS
                       for n, d in zip(own, depths, strict=True))
    chars = int(width * 72 / 6.2)  # ~6 pt a character at 10 pt: a line as wide as the figure
    for r, (label, sub) in enumerate(zip(labels, parts, strict=True)):
        scale = scale_of(sub)
        scales.append(scale)
        first: Axes | None = None
        for c, x_axis in enumerate(axes_x):
            ax = panels[r][c]
            run = x_axis.runs[r]
            if not run:
                ax.set_axis_off()
                continue
            score, errors, unanswered = (grid(df, label, v, lengths=run, depths=depths[r])
                                         for v in ("score", "errors", "unanswered"))
            shared = all(x == run for x in x_axis.runs if x)
            bottom = not any(x_axis.runs[k] for k in range(r + 1, len(labels)))
            mesh = draw_grid(
                ax, score, errors, unanswered=unanswered, scale=scale,
                annotate=annotate, asked=asked,
                x_labels=bottom or not shared, y_labels=first is None,
                x_edges=x_axis.edges(run), x_limits=x_axis.limits(),
                name=display_name_of(df, label), unit=unit,
            )
            if first is not None:
                ax.sharey(first)
            first = first or ax
            drawn.append(ax)
            for h in legend_handles(kinds_of(score, errors, unanswered)):
                handles[str(h.get_label())] = h
        if first is not None:
            first.set_title(heading(df, label, sub, chars), loc="left", fontsize=TITLE_PT - 2)
    rounded = any(length_ticks(a.union).rounded for a in axes_x)
    for c in range(len(axes_x)):
        bottom_ax = next(panels[r][c] for r in reversed(range(len(labels)))
                         if axes_x[c].runs[r])
        label = (x_axis_label(axes_x[c].union, unit) if unit == "seconds"
                 else length_axis_label(rounded))
        bottom_ax.set_xlabel(label, fontsize=LABEL_PT)
    fig.supylabel("Needle depth (% of duration)" if unit == "seconds"
                  else "Needle depth (% of context)", fontsize=LABEL_PT)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT)
    assert mesh is not None
    colorbar(fig, mesh, drawn, scales)
    if handles:
        ordered = [handles[k] for k in LEGEND_ORDER if k in handles]
        fig.legend(handles=ordered, loc="outside lower center", ncol=legend_columns(ordered),
                   frameon=False, fontsize=LEGEND_PT)
    return finish(fig, drawn)

