"""Needle-in-a-haystack figures in the style of gkamradt's charts and the Gemini 1.5 report.

Context length runs along x as equal-width categorical columns (1K, 32K, 1M), depth
along y with 0% at the top. Cells go red (0) -> yellow -> green (1); a cell with no
scored trial is gray (API errors) or hatched light gray (replies without an answer),
and a cell where only some trials failed carries a corner mark (``niah.report.cells``),
so failures are never mistaken for misses. A model whose lengths are not counted in
its own tokenizer says so in its title (``niah.analysis.length_basis``); a judge-scored
import is drawn against a 1-10 judge colour bar (``niah.report.scale``). Tick labels
follow ``niah.report.ticks``; comparisons of several models are in
``niah.report.compare``.

Sizes are chosen for the HTML page, which shows a figure at 1.4 CSS px per point but
never wider than its 1200 px: figures are at most 16 in (1152 pt) wide and their tick
labels 10 pt, so those are at least 10 px on the page (``niah.report.html.ZOOM``).

Figures are built with the object API on an Agg canvas: no pyplot state, no GUI.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from niah.analysis import ResultsWarning, basis_of, grid, recall_table, select, series_labels
from niah.report.cells import ERROR_COLOR, CellKinds, draw_cells, figure_of, legend_handles
from niah.report.scale import RECALL, ScoreScale, display_name_of, normalize_judge, scale_of
from niah.report.ticks import (
    TICK_PT,
    column_labels,
    depth_labels,
    fit_ticks,
    length_axis_label,
    length_labels,
    length_ticks,
    tick_positions,
    unit_of,
    x_axis_label,
)
from niah.results import ANSWER_ERRORS
from niah.stats import CONFIDENCE

__all__ = ["depth_labels", "length_labels"]  # re-exported for callers of the old home

CMAP = LinearSegmentedColormap.from_list("niah_recall", ["#F0496E", "#EBB839", "#0CD79F"])
"""Red (0) -> yellow -> green (1), the colours of gkamradt's original charts."""
ANNOTATE_MAX_CELLS = 150
ANNOTATE_MAX_COLUMNS = 16
ANNOTATE_PT = (6.0, 9.0)
"""Cell values are written between these sizes; cells too small for the least are left
blank (with a warning when values were asked for)."""
LEGEND_PT = 10.0
TITLE_PT = 12.0
LABEL_PT = 11.0


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_size(n_rows: int, n_cols: int) -> tuple[float, float]:
    """Inches for one model's heatmap: about 26 pt a column and 17 pt a row (35 x 35:
    16 x 10.7 in), room for 10 pt labels."""
    width = min(16.0, max(6.4, 3.3 + 0.36 * n_cols))
    height = min(11.5, max(4.2, 2.3 + 0.24 * n_rows))
    return width, height


def _text_color(value: float) -> str:
    r, g, b = CMAP(value)[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.45 else "white"


@dataclass
class _CellTexts:
    texts: list[Text]
    n_rows: int
    min_width: float
    """The narrowest column, in data units."""
    asked: bool
    name: str


_CELL_TEXTS: weakref.WeakKeyDictionary[Axes, _CellTexts] = weakref.WeakKeyDictionary()


def _annotate(ax: Axes, values: np.ndarray, kinds: CellKinds, centres: np.ndarray,
              scale: ScoreScale) -> list[Text]:
    texts = []
    n_rows, n_cols = values.shape
    for i in range(n_rows):
        for j in range(n_cols):
            if not np.isnan(values[i, j]):
                v = float(values[i, j])
                texts.append(ax.text(centres[j], i, scale.cell(v), ha="center", va="center",
                                     fontsize=ANNOTATE_PT[1], color=_text_color(v)))
            elif kinds.api_fill[i, j] or kinds.unanswered_fill[i, j]:
                word = "error" if kinds.api_fill[i, j] else "no\nanswer"
                texts.append(ax.text(centres[j], i, word, ha="center", va="center",
                                     fontsize=ANNOTATE_PT[1] - 1, color="#202020",
                                     linespacing=1.0))
    return texts


def draw_grid(
    ax: Axes,
    score: pd.DataFrame,
    errors: pd.DataFrame,
    *,
    unanswered: pd.DataFrame | None = None,
    annotate: bool | None = None,
    x_labels: bool = True,
    y_labels: bool = True,
    scale: ScoreScale = RECALL,
    x_edges: Sequence[float] | np.ndarray | None = None,
    x_limits: tuple[float, float] | None = None,
    name: str = "",
    asked: bool | None = None,
    unit: str = "tokens",
) -> QuadMesh:
    """Draw one grid on ``ax``: row i centred at y = i, column j between ``x_edges[j]``
    and ``x_edges[j + 1]`` (default: centred at x = j, one unit wide).

    ``errors`` and ``unanswered`` count a cell's API errors and replies without an
    answer (``grid(..., "errors")``, ``grid(..., "unanswered")``; None: none).
    ``annotate``: write cell values (None: only in small grids); their size is fitted
    to the cells when the figure is laid out (``finish``), and where none fits they are
    left out, with a warning naming ``name`` if values were ``asked`` for (default:
    ``annotate is True``). ``unit``: ``seconds`` labels columns as durations.
    """
    n_rows, n_cols = score.shape
    values = score.to_numpy(dtype=float)
    kinds = kinds_of(score, errors, unanswered)
    masked = np.ma.masked_array(np.nan_to_num(values), mask=np.isnan(values))
    cell_edge = 0.6 if max(n_rows, n_cols) > 20 else 1.2
    xs = np.arange(n_cols + 1) - 0.5 if x_edges is None else np.asarray(x_edges, dtype=float)
    centres = (xs[:-1] + xs[1:]) / 2
    ax.set_xlim(*(x_limits or (float(xs[0]), float(xs[-1]))))
    ax.set_ylim(n_rows - 0.5, -0.5)
    mesh = ax.pcolormesh(
        xs, np.arange(n_rows + 1) - 0.5, masked, cmap=CMAP, norm=Normalize(0.0, 1.0),
        edgecolors="white", linewidth=cell_edge,
    )
    draw_cells(ax, kinds, cell_edge, xs)
    asked = bool(annotate) if asked is None else asked
    if annotate is None:
        annotate = n_rows * n_cols <= ANNOTATE_MAX_CELLS and n_cols <= ANNOTATE_MAX_COLUMNS
    if annotate:
        texts = _annotate(ax, values, kinds, centres, scale)
        _CELL_TEXTS[ax] = _CellTexts(texts, n_rows, float(np.diff(xs).min()), asked, name)
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0, labelsize=TICK_PT)
    xt = tick_positions(n_cols)
    ax.set_xticks([float(centres[k]) for k in xt])
    xl = column_labels([int(c) for c in score.columns], unit)
    ax.set_xticklabels([xl[k] for k in xt])
    yt = tick_positions(n_rows)
    ax.set_yticks(yt)
    yl = depth_labels([float(d) for d in score.index])
    ax.set_yticklabels([yl[k] for k in yt])
    # Shared axes share one formatter: hide labels per axes instead of emptying them.
    ax.tick_params(labelbottom=x_labels, labelleft=y_labels)
    return mesh


def _fit_size(texts: list[Text], width: float, height: float) -> float:
    """The largest size (pt, at most ANNOTATE_PT[1]) at which every text fits its cell."""
    widest = max((max(len(x) for x in t.get_text().split("\n")) for t in texts), default=1)
    lines = max((t.get_text().count("\n") + 1 for t in texts), default=1)
    # DejaVu Sans digits are ~0.64 em wide; keep a little margin on every side
    return min(ANNOTATE_PT[1], 0.85 * width / (0.64 * widest), 0.8 * height / (1.15 * lines))


def _fit_cell_texts(ax: Axes, cells: _CellTexts) -> None:
    """Size the cell values to the laid-out cells, or remove them where none fits."""
    fig = figure_of(ax)
    x0, x1 = ax.get_xlim()
    points = 72.0 / fig.dpi
    width = ax.bbox.width * points * cells.min_width / max(abs(x1 - x0), 1e-12)
    height = ax.bbox.height * points / max(cells.n_rows, 1)
    texts = cells.texts
    if _fit_size(texts, width, height) < ANNOTATE_PT[0]:
        # words ("error", "no answer") go first: the colour and the legend say the same
        words = [t for t in texts if not t.get_text()[:1].isdigit()]
        for t in words:
            t.remove()
        texts = [t for t in texts if t not in words]
    size = _fit_size(texts, width, height)
    if size < ANNOTATE_PT[0]:
        for t in texts:
            t.remove()
        if cells.asked:
            warnings.warn(
                f"--annotate: the cells of {cells.name or 'a grid'} are too small "
                f"({width:.0f} x {height:.0f} pt) to hold their values; none written",
                ResultsWarning, stacklevel=3)
        return
    for t in texts:
        t.set_fontsize(min(size, ANNOTATE_PT[1] - 1) if "\n" in t.get_text() else size)


def finish(fig: Figure, axes: Iterable[Axes]) -> Figure:
    """Lay the figure out; turn length labels that would touch; fit cell values."""
    axes = list(axes)
    fit_ticks(fig, axes)
    for ax in axes:
        cells = _CELL_TEXTS.get(ax)
        if cells is not None:
            _fit_cell_texts(ax, cells)
    return fig


def kinds_of(
    score: pd.DataFrame, errors: pd.DataFrame, unanswered: pd.DataFrame | None
) -> CellKinds:
    n_err = errors.to_numpy(dtype=int)
    n_unanswered = np.zeros_like(n_err) if unanswered is None else unanswered.to_numpy(dtype=int)
    return CellKinds.of(score.to_numpy(dtype=float), n_err, n_unanswered)


def score_text(sub: pd.DataFrame, scale: ScoreScale) -> str:
    """``recall 62.5% · 11 trials · 4 API errors · 4 unanswered`` (or the judge's mean)."""
    scored = sub[sub["error"].isna() & sub["score"].notna()]
    unanswered = int(sub["error_kind"].isin(ANSWER_ERRORS).sum())
    errors = int(sub["error"].notna().sum()) - unanswered
    parts = [scale.mean(float(scored["score"].mean()) if len(scored) else math.nan),
             f"{len(sub):,} trial{'s' * (len(sub) != 1)}"]
    if errors:
        parts.append(f"{errors:,} API error{'s' * (errors != 1)}")
    if unanswered:
        parts.append(f"{unanswered:,} unanswered")
    return " · ".join(parts)


def heading(df: pd.DataFrame, label: str, sub: pd.DataFrame, width: int | None = None) -> str:
    """Model, score, and what its lengths are in when they are not its own tokens.

    A line each; with ``width`` (characters), model and score share the first line
    when it fits (a comparison panel's title).
    """
    name = display_name_of(df, label)
    caption = basis_of(df, label).caption()
    score = score_text(sub, scale_of(sub))
    if width is None:
        return "\n".join(x for x in (name, caption, score) if x)
    joined = f"{name}  ·  {score}"
    first = joined if len(joined) <= width else f"{name}\n{score}"
    return f"{first}\n{caption}" if caption else first


def legend_columns(handles: Sequence[Patch | Line2D]) -> int:
    """One row for up to three entries, two rows for four (a narrow figure fits them)."""
    return len(handles) if len(handles) <= 3 else 2


def colorbar(fig: Figure, mesh: QuadMesh, axes: Axes | list[Axes],
             scales: Iterable[ScoreScale]) -> None:
    """One colour bar: recall (0-1), judge scores (1-10), or both scales on its sides."""
    kinds = {s.judge for s in scales}
    bar = fig.colorbar(mesh, ax=axes, fraction=0.05, pad=0.02, aspect=25)
    bar.outline.set_visible(False)
    main = ScoreScale(judge=kinds == {True})
    positions, labels = main.ticks()
    bar.set_ticks(positions, labels=labels)
    bar.ax.tick_params(labelsize=TICK_PT)
    bar.set_label(main.colorbar_label, fontsize=LABEL_PT)
    if kinds == {True, False}:
        judge = ScoreScale(judge=True)
        left = bar.ax.secondary_yaxis("left")
        positions, labels = judge.ticks()
        left.set_yticks(positions, labels=labels)
        left.tick_params(labelsize=TICK_PT - 1)
        left.set_ylabel(judge.colorbar_label, fontsize=LABEL_PT - 1)


def plot_heatmap(
    df: pd.DataFrame,
    model: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """One model's heatmap, with a colour bar and a title giving its overall score.

    ``annotate`` writes each cell's score in it (None: only when the grid is small;
    True: whenever the cells can hold it).
    """
    df = normalize_judge(df)
    label, sub = select(df, model)
    scale = scale_of(sub)
    score, errors, unanswered = (grid(df, label, v) for v in ("score", "errors", "unanswered"))
    owned = ax is None
    if ax is None:
        fig = new_figure(*figure_size(*score.shape))
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    name = display_name_of(df, label)
    unit = unit_of(sub)
    mesh = draw_grid(ax, score, errors, unanswered=unanswered, annotate=annotate, scale=scale,
                     name=name, unit=unit)
    head = heading(df, label, sub)
    ax.set_title(f"{title}\n{head}" if title else head, fontsize=TITLE_PT)
    ax.set_xlabel(x_axis_label([int(c) for c in score.columns], unit), fontsize=LABEL_PT)
    ax.set_ylabel("Needle depth (% of duration)" if unit == "seconds"
                  else "Needle depth (% of context)", fontsize=LABEL_PT)
    colorbar(fig, mesh, ax, [scale])
    handles = legend_handles(kinds_of(score, errors, unanswered))
    if handles and owned:
        fig.legend(handles=handles, loc="outside lower center", ncol=legend_columns(handles),
                   frameon=False, fontsize=LEGEND_PT)
    elif handles:
        ax.legend(handles=handles, loc="upper right", fontsize=LEGEND_PT - 2, framealpha=0.9)
    return finish(fig, [ax])


def plot_multi_needle(
    df: pd.DataFrame, title: str | None = None, confidence: float = CONFIDENCE
) -> Figure:
    """Recall (fraction of needles found) against context length, one line per model,
    with error bars: the Wilson interval at ``confidence`` (``analysis.recall_table``)."""
    fig = new_figure(7.5, 4.4)
    ax = fig.add_subplot()
    lengths = sorted({int(x) for x in df["context_length"]})
    for label in series_labels(df):
        curve = recall_table(df, label, "context_length", confidence).dropna(subset=["recall"])
        x, y = curve.index.to_numpy(dtype=float), curve["recall"].to_numpy(dtype=float)
        recall_line(ax, x, y, curve["recall_low"], curve["recall_high"],
                    display_name_of(df, label))
    if lengths and lengths[-1] / lengths[0] >= 8:
        ax.set_xscale("log")
    ax.minorticks_off()
    ticks = [lengths[k] for k in tick_positions(len(lengths))] if len(lengths) <= 12 else [
        lengths[k] for k in range(0, len(lengths), math.ceil(len(lengths) / 10))
    ]
    ax.set_xticks(ticks)
    ax.set_xticklabels(length_labels(ticks))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(length_axis_label(length_ticks(ticks).rounded))
    ax.set_ylabel("Recall (fraction of needles found)")
    counts = sorted({int(n) for n in df["n_needles"]})
    needles = f"{counts[0]} needles" if len(counts) == 1 else "multiple needles"
    ax.set_title(title or f"Multi-needle recall ({needles}; bars: {confidence:.0%} intervals)",
                 fontsize=TITLE_PT - 1)
    style_line_axes(ax)
    return fig


def recall_line(ax: Axes, x: np.ndarray, y: np.ndarray, low: pd.Series, high: pd.Series,
                label: str) -> None:
    """One model's recall curve with its interval as error bars, in the line's colour."""
    (line,) = ax.plot(x, y, marker="o", markersize=4, linewidth=1.8, label=label)
    bars = [y - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - y]
    ax.errorbar(x, y, yerr=bars, fmt="none", ecolor=line.get_color(), elinewidth=1.0,
                alpha=0.7)


def style_line_axes(ax: Axes) -> None:
    """The recall charts' look: light grid behind, no top or right spine, plain legend."""
    ax.grid(True, color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize=LEGEND_PT - 1)


def cell_rgb(value: float) -> tuple[float, float, float]:
    """The colour a score is drawn in (for tests and legends)."""
    r, g, b = CMAP(float(value))[:3]
    return float(r), float(g), float(b)


ERROR_RGB = to_rgb(ERROR_COLOR)
