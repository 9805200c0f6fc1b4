"""Heatmap cells without a score, drawn so that they are never read as misses.

A cell none of whose trials was scored is gray: mid gray when a trial failed with an
API error (no reply came back), light gray with hatching when every failed trial got
a reply that held no answer (cut by the token limit, or empty: ``ANSWER_ERRORS``).
A cell that is coloured (or gray of the other kind) yet has such trials carries a
corner mark: dark at the top right for API errors, light gray at the top left for
unanswered trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle

ERROR_COLOR = "#A9A9A9"
"""Cells with no score where a trial failed with an API error."""
UNANSWERED_COLOR = "#E4E4E4"
"""Cells with no score whose failed trials all got a reply without an answer."""
UNANSWERED_HATCH = "#8F8F8F"
UNANSWERED_HATCH_PATTERN = "///"
MARK_COLOR = "#2B2B2B"
"""Top-right mark of cells where some trials failed with an API error."""
UNANSWERED_MARK_COLOR = "#F2F2F2"
"""Top-left mark of cells where some trials got a reply without an answer: light, like
the unanswered fill, outlined in the hatch colour so it shows on any cell."""
MARK_SIZE = 0.4
"""Leg of a corner triangle, as a fraction of the cell."""

API_EVERY = "API error (every trial)"
API_SOME = "API error (some trials)"
UNANSWERED_EVERY = "no answer: truncated/empty (every trial)"
UNANSWERED_SOME = "no answer: truncated/empty (some trials)"
LEGEND_ORDER = (API_EVERY, API_SOME, UNANSWERED_EVERY, UNANSWERED_SOME)


@dataclass(frozen=True)
class CellKinds:
    """Boolean masks over a grid (row = depth, column = length)."""

    api_fill: np.ndarray
    unanswered_fill: np.ndarray
    api_mark: np.ndarray
    unanswered_mark: np.ndarray

    @classmethod
    def of(cls, score: np.ndarray, errors: np.ndarray, unanswered: np.ndarray) -> CellKinds:
        """From a grid's mean scores (NaN: nothing scored) and its two error counts."""
        gray = np.isnan(score) & (errors + unanswered > 0)
        api_fill = gray & (errors > 0)
        unanswered_fill = gray & (errors == 0)
        return cls(api_fill, unanswered_fill, (errors > 0) & ~api_fill,
                   (unanswered > 0) & ~unanswered_fill)


def figure_of(ax: Axes) -> Figure:
    """The root figure of ``ax`` (climbing out of subfigures; works on matplotlib 3.7+)."""
    fig = ax.figure
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _cells(mask: np.ndarray) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(mask), strict=True)]


def _mark_legs(ax: Axes, n_rows: int, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle legs (x, y) in data units, per column: MARK_SIZE of the cell's shorter
    side on screen (``widths``: the columns' widths in data units; x limits are set)."""
    fig = figure_of(ax)
    box = ax.get_position()
    width_in, height_in = fig.get_size_inches()
    x0, x1 = ax.get_xlim()
    inch_per_x = box.width * width_in / max(abs(x1 - x0), 1e-12)
    cell_w = widths * inch_per_x
    cell_h = box.height * height_in / max(n_rows, 1)
    side = MARK_SIZE * np.minimum(cell_w, cell_h)
    return side / inch_per_x, side / cell_h


def draw_cells(
    ax: Axes, kinds: CellKinds, cell_edge: float, x_edges: np.ndarray | None = None
) -> None:
    """Gray fills and corner marks over a grid drawn with row i centred at y = i and
    column j between ``x_edges[j]`` and ``x_edges[j + 1]`` (default j - 0.5, j + 0.5)."""
    n_rows, n_cols = kinds.api_fill.shape
    xs = np.arange(n_cols + 1) - 0.5 if x_edges is None else np.asarray(x_edges, dtype=float)

    def box(i: int, j: int) -> Rectangle:
        return Rectangle((xs[j], i - 0.5), xs[j + 1] - xs[j], 1)

    api = _cells(kinds.api_fill)
    if api:
        ax.add_collection(PatchCollection(
            [box(i, j) for i, j in api],
            facecolor=ERROR_COLOR, edgecolor="white", linewidth=cell_edge,
        ))
    unanswered = _cells(kinds.unanswered_fill)
    if unanswered:
        # The hatch takes the edge colour (matplotlib < 3.10 has no hatch colour of its
        # own), so the white cell border is drawn over it by a second collection.
        ax.add_collection(PatchCollection(
            [box(i, j) for i, j in unanswered], facecolor=UNANSWERED_COLOR,
            edgecolor=UNANSWERED_HATCH, linewidth=0, hatch=UNANSWERED_HATCH_PATTERN,
        ))
        ax.add_collection(PatchCollection(
            [box(i, j) for i, j in unanswered],
            facecolor="none", edgecolor="white", linewidth=cell_edge,
        ))
    dxs, dys = _mark_legs(ax, n_rows, np.diff(xs))
    # y is inverted: a cell's smaller y is its top. Legs are scaled so the triangle looks
    # isosceles however wide the cells are.
    api_marks = [
        Polygon([(xs[j + 1], i - 0.5), (xs[j + 1] - dxs[j], i - 0.5),
                 (xs[j + 1], i - 0.5 + dys[j])])
        for i, j in _cells(kinds.api_mark)
    ]
    if api_marks:
        ax.add_collection(PatchCollection(api_marks, facecolor=MARK_COLOR, edgecolor="none"))
    unanswered_marks = [
        Polygon([(xs[j], i - 0.5), (xs[j] + dxs[j], i - 0.5), (xs[j], i - 0.5 + dys[j])])
        for i, j in _cells(kinds.unanswered_mark)
    ]
    if unanswered_marks:
        ax.add_collection(PatchCollection(
            unanswered_marks, facecolor=UNANSWERED_MARK_COLOR, edgecolor=UNANSWERED_HATCH,
            linewidth=0.8))


def _mark_handle(color: str, label: str, edge: str | None = None) -> Line2D:
    return Line2D([], [], linestyle="none", marker=(3, 0, 0), markersize=8,
                  markerfacecolor=color, markeredgecolor=edge or color, markeredgewidth=0.8,
                  label=label)


def legend_handles(kinds: CellKinds) -> list[Patch | Line2D]:
    """Legend entries for the kinds of cell a grid shows, in a fixed order."""
    handles: list[Patch | Line2D] = []
    if kinds.api_fill.any():
        handles.append(Patch(facecolor=ERROR_COLOR, label=API_EVERY))
    if kinds.api_mark.any():
        handles.append(_mark_handle(MARK_COLOR, API_SOME))
    if kinds.unanswered_fill.any():
        handles.append(Patch(facecolor=UNANSWERED_COLOR, edgecolor=UNANSWERED_HATCH,
                             linewidth=0, hatch=UNANSWERED_HATCH_PATTERN,
                             label=UNANSWERED_EVERY))
    if kinds.unanswered_mark.any():
        handles.append(_mark_handle(UNANSWERED_MARK_COLOR, UNANSWERED_SOME, UNANSWERED_HATCH))
    return handles
