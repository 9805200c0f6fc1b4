"""Needle-in-a-haystack figures in the style of gkamradt's charts and the Gemini 1.5 report.

Context length runs along x as equal-width categorical columns (1K, 32K, 1M), depth
along y with 0% at the top. Cells go red (0) -> yellow -> green (1); a cell with no
scored trial is gray (API errors) or hatched light gray (replies without an answer),
and a cell where only some trials failed carries a corner mark (``niah.report.cells``),
so failures are never mistaken for misses. A model whose lengths are not counted in
its own tokenizer says so in its title (``niah.analysis.length_basis``).

Figures are built with the object API on an Agg canvas: no pyplot state, no GUI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from niah.analysis import basis_of, grid, recall_table, select, series_labels
from niah.fmt import tokens
from niah.report.cells import (
    ERROR_COLOR,
    LEGEND_ORDER,
    CellKinds,
    draw_cells,
    figure_of,
    legend_handles,
)
from niah.results import ANSWER_ERRORS
from niah.stats import CONFIDENCE

CMAP = LinearSegmentedColormap.from_list("niah_recall", ["#F0496E", "#EBB839", "#0CD79F"])
"""Red (0) -> yellow -> green (1), the colours of gkamradt's original charts."""
ANNOTATE_MAX_CELLS = 150
ANNOTATE_MAX_COLUMNS = 16
MAX_TICK_LABELS = 40


def length_labels(lengths: Sequence[int]) -> list[str]:
    """Axis labels in niah's one token spelling (``niah.fmt.tokens``): exact, so distinct."""
    return [tokens(int(n)) for n in lengths]


def depth_labels(depths: Sequence[float]) -> list[str]:
    """0 -> 0%, 11.316 -> 11.3%, with more decimals only where needed to tell apart."""
    for decimals in range(0, 4):
        labels = [f"{round(float(d), decimals):g}%" for d in depths]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{float(d)}%" for d in depths]


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _figure_size(n_rows: int, n_cols: int) -> tuple[float, float]:
    width = min(16.0, max(6.4, 2.2 + 0.42 * n_cols))
    height = min(11.0, max(3.8, 1.9 + 0.3 * n_rows))
    return width, height


def _text_color(value: float) -> str:
    r, g, b = CMAP(value)[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.45 else "white"


def _tick_positions(n: int) -> list[int]:
    step = max(1, math.ceil(n / MAX_TICK_LABELS))
    return list(range(0, n, step))


def draw_grid(
    ax: Axes,
    score: pd.DataFrame,
    errors: pd.DataFrame,
    *,
    unanswered: pd.DataFrame | None = None,
    annotate: bool | None = None,
    x_labels: bool = True,
    y_labels: bool = True,
) -> QuadMesh:
    """Draw one grid on ``ax``: cell (row i, column j) is centred at data (j, i).

    ``errors`` and ``unanswered`` count a cell's API errors and replies without an
    answer (``grid(..., "errors")``, ``grid(..., "unanswered")``; None: none).
    """
    n_rows, n_cols = score.shape
    values = score.to_numpy(dtype=float)
    kinds = _kinds(score, errors, unanswered)
    masked = np.ma.masked_array(np.nan_to_num(values), mask=np.isnan(values))
    cell_edge = 0.6 if max(n_rows, n_cols) > 20 else 1.2
    xs = np.arange(n_cols + 1) - 0.5
    ys = np.arange(n_rows + 1) - 0.5
    mesh = ax.pcolormesh(
        xs, ys, masked, cmap=CMAP, norm=Normalize(0.0, 1.0),
        edgecolors="white", linewidth=cell_edge,
    )
    draw_cells(ax, kinds, cell_edge)
    if annotate is None:
        annotate = n_rows * n_cols <= ANNOTATE_MAX_CELLS and n_cols <= ANNOTATE_MAX_COLUMNS
    if annotate:
        size = 9 if n_rows * n_cols <= 40 else 7
        for i in range(n_rows):
            for j in range(n_cols):
                if not np.isnan(values[i, j]):
                    v = float(values[i, j])
                    ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=size,
                            color=_text_color(v))
                elif kinds.api_fill[i, j] or kinds.unanswered_fill[i, j]:
                    word = "error" if kinds.api_fill[i, j] else "no\nanswer"
                    ax.text(j, i, word, ha="center", va="center", fontsize=size - 1,
                            color="#202020", linespacing=1.0)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0, labelsize=8 if max(n_rows, n_cols) > 20 else 9)
    xt = _tick_positions(n_cols)
    ax.set_xticks(xt)
    xl = length_labels([int(c) for c in score.columns])
    ax.set_xticklabels([xl[k] for k in xt])
    if n_cols > 10:
        for label in ax.get_xticklabels():
            label.set_rotation(45)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    yt = _tick_positions(n_rows)
    ax.set_yticks(yt)
    yl = depth_labels([float(d) for d in score.index])
    ax.set_yticklabels([yl[k] for k in yt])
    # Shared axes share one formatter: hide labels per axes instead of emptying them.
    ax.tick_params(labelbottom=x_labels, labelleft=y_labels)
    return mesh


def _kinds(
    score: pd.DataFrame, errors: pd.DataFrame, unanswered: pd.DataFrame | None
) -> CellKinds:
    n_err = errors.to_numpy(dtype=int)
    n_unanswered = np.zeros_like(n_err) if unanswered is None else unanswered.to_numpy(dtype=int)
    return CellKinds.of(score.to_numpy(dtype=float), n_err, n_unanswered)


def _recall_text(sub: pd.DataFrame) -> str:
    scored = sub[sub["error"].isna() & sub["score"].notna()]
    unanswered = int(sub["error_kind"].isin(ANSWER_ERRORS).sum())
    errors = int(sub["error"].notna().sum()) - unanswered
    recall = f"recall {scored['score'].mean():.1%}" if len(scored) else "nothing scored"
    parts = [recall, f"{len(sub)} trial{'s' * (len(sub) != 1)}"]
    if errors:
        parts.append(f"{errors} API error{'s' * (errors != 1)}")
    if unanswered:
        parts.append(f"{unanswered} unanswered")
    return " · ".join(parts)


def _heading(df: pd.DataFrame, label: str, sub: pd.DataFrame, width: int | None = None) -> str:
    """Model, recall, and what its lengths are in when they are not its own tokens.

    A line each; with ``width`` (characters), model and recall share the first line
    when it fits (a comparison panel's title).
    """
    caption = basis_of(df, label).caption()
    recall = _recall_text(sub)
    if width is None:
        return "\n".join(x for x in (label, caption, recall) if x)
    joined = f"{label}  ·  {recall}"
    first = joined if len(joined) <= width else f"{label}\n{recall}"
    return f"{first}\n{caption}" if caption else first


def _legend_columns(handles: Sequence[Patch | Line2D]) -> int:
    """One row for up to three entries, two rows for four (a narrow figure fits them)."""
    return len(handles) if len(handles) <= 3 else 2


def _colorbar(fig: Figure, mesh: QuadMesh, axes: Axes | list[Axes]) -> None:
    bar = fig.colorbar(mesh, ax=axes, fraction=0.05, pad=0.02, aspect=25)
    bar.set_label("Score (fraction of needles found)")
    bar.outline.set_visible(False)


def plot_heatmap(
    df: pd.DataFrame,
    model: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """One model's recall heatmap, with a colour bar and a title giving its overall recall.

    ``annotate`` writes each cell's score in it; by default only when the grid is small.
    """
    label, sub = select(df, model)
    score, errors, unanswered = (grid(df, label, v) for v in ("score", "errors", "unanswered"))
    owned = ax is None
    if ax is None:
        fig = _new_figure(*_figure_size(*score.shape))
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    mesh = draw_grid(ax, score, errors, unanswered=unanswered, annotate=annotate)
    heading = _heading(df, label, sub)
    ax.set_title(f"{title}\n{heading}" if title else heading, fontsize=11)
    ax.set_xlabel("Context length (tokens)")
    ax.set_ylabel("Needle depth (% of context)")
    _colorbar(fig, mesh, ax)
    handles = legend_handles(_kinds(score, errors, unanswered))
    if handles and owned:
        fig.legend(handles=handles, loc="outside lower center", ncol=_legend_columns(handles),
                   frameon=False, fontsize=8)
    elif handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    return fig


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


def plot_comparison(
    dfs_or_df: pd.DataFrame | Sequence[pd.DataFrame],
    models: Sequence[str] | None = None,
    split_at: int | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Several models stacked with shared axes (the Gemini 1.5 vs GPT-4 Turbo figure).

    Every panel uses the union of lengths and depths, so a length one model was not
    run at stays blank. ``split_at`` (e.g. 1_000_000) cuts the length axis into two
    panels side by side: lengths up to and including it, and the longer ones.
    ``annotate`` writes scores in cells (default: only for small grids).
    """
    df = _combine(dfs_or_df)
    labels = list(models) if models else series_labels(df)
    parts = [select(df, m)[1] for m in labels]
    chosen = pd.concat(parts)
    lengths = sorted({int(x) for x in chosen["context_length"]})
    depths = sorted({float(x) for x in chosen["requested_depth"]})
    groups = [lengths]
    if split_at is not None:
        groups = [g for g in ([x for x in lengths if x <= split_at],
                              [x for x in lengths if x > split_at]) if g]
    width, height = _figure_size(len(depths), len(lengths))
    per_row = max(2.4, min(height, 1.2 + 0.22 * len(depths)))
    fig = _new_figure(width, 0.8 + per_row * len(labels))
    axes = fig.subplots(
        len(labels), len(groups), sharex="col", sharey=True, squeeze=False,
        gridspec_kw={"width_ratios": [len(g) for g in groups]},
    )
    mesh: QuadMesh | None = None
    handles: dict[str, Patch | Line2D] = {}
    for r, (label, sub) in enumerate(zip(labels, parts, strict=True)):
        for c, group in enumerate(groups):
            ax = axes[r][c]
            score, errors, unanswered = (grid(df, label, v, lengths=group, depths=depths)
                                         for v in ("score", "errors", "unanswered"))
            small = len(depths) * len(lengths) <= 60
            mesh = draw_grid(ax, score, errors, unanswered=unanswered,
                             annotate=small if annotate is None else annotate,
                             x_labels=r == len(labels) - 1, y_labels=c == 0)
            for h in legend_handles(_kinds(score, errors, unanswered)):
                handles[str(h.get_label())] = h
        # about 6 points a character at 10 points: a line as wide as the figure
        chars = int(fig.get_size_inches()[0] * 72 / 6.2)
        axes[r][0].set_title(_heading(df, label, sub, chars), loc="left", fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("Context length (tokens)", fontsize=10)
    fig.supylabel("Needle depth (% of context)", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    assert mesh is not None
    _colorbar(fig, mesh, [a for row in axes for a in row])
    if handles:
        ordered = [handles[k] for k in LEGEND_ORDER if k in handles]
        fig.legend(handles=ordered, loc="outside lower center", ncol=_legend_columns(ordered),
                   frameon=False, fontsize=8)
    return fig


def plot_multi_needle(
    df: pd.DataFrame, title: str | None = None, confidence: float = CONFIDENCE
) -> Figure:
    """Recall (fraction of needles found) against context length, one line per model,
    with error bars: the Wilson interval at ``confidence`` (``analysis.recall_table``)."""
    fig = _new_figure(7.5, 4.4)
    ax = fig.add_subplot()
    lengths = sorted({int(x) for x in df["context_length"]})
    for label in series_labels(df):
        curve = recall_table(df, label, "context_length", confidence).dropna(subset=["recall"])
        x, y = curve.index.to_numpy(dtype=float), curve["recall"].to_numpy(dtype=float)
        (line,) = ax.plot(x, y, marker="o", markersize=4, linewidth=1.8, label=label)
        bars = [y - curve["recall_low"].to_numpy(dtype=float),
                curve["recall_high"].to_numpy(dtype=float) - y]
        ax.errorbar(x, y, yerr=bars, fmt="none", ecolor=line.get_color(), elinewidth=1.0,
                    alpha=0.7)
    if lengths and lengths[-1] / lengths[0] >= 8:
        ax.set_xscale("log")
    ax.minorticks_off()
    ticks = [lengths[k] for k in _tick_positions(len(lengths))] if len(lengths) <= 12 else [
        lengths[k] for k in range(0, len(lengths), math.ceil(len(lengths) / 10))
    ]
    ax.set_xticks(ticks)
    ax.set_xticklabels(length_labels(ticks))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Context length (tokens)")
    ax.set_ylabel("Recall (fraction of needles found)")
    counts = sorted({int(n) for n in df["n_needles"]})
    needles = f"{counts[0]} needles" if len(counts) == 1 else "multiple needles"
    ax.set_title(title or f"Multi-needle recall ({needles}; bars: {confidence:.0%} intervals)",
                 fontsize=11)
    ax.grid(True, color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    return fig


def cell_rgb(value: float) -> tuple[float, float, float]:
    """The colour a score is drawn in (for tests and legends)."""
    r, g, b = CMAP(float(value))[:3]
    return float(r), float(g), float(b)


ERROR_RGB = to_rgb(ERROR_COLOR)
