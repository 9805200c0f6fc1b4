"""Heatmaps checked by the colours of the saved PNG at cell centres, not by file existence."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection, QuadMesh
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread

from niah.analysis import rows_frame
from niah.report.heatmap import (
    CMAP,
    ERROR_COLOR,
    MARK_COLOR,
    MARK_SIZE,
    depth_labels,
    length_labels,
    plot_comparison,
    plot_heatmap,
    plot_multi_needle,
)
from tests.report.factory import make_row, quickstart_rows

DPI = 100
RED, YELLOW, GREEN = to_rgb("#F0496E"), to_rgb("#EBB839"), to_rgb("#0CD79F")
GRAY, DARK, WHITE = to_rgb(ERROR_COLOR), to_rgb(MARK_COLOR), (1.0, 1.0, 1.0)


def render(fig: Figure) -> np.ndarray:
    """Save as PNG at a known dpi and read it back; transforms are final after the save."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image: np.ndarray = imread(buffer)[:, :, :3]
    width, height = fig.get_size_inches() * DPI
    assert image.shape[:2] == (round(height), round(width))
    return image


def pixel(image: np.ndarray, ax: Axes, x: float, y: float) -> tuple[float, ...]:
    """The colour at data point (x, y) of ``ax`` (display y grows upwards, image rows down)."""
    px, py = ax.transData.transform((x, y))
    return tuple(float(c) for c in image[int(image.shape[0] - py), int(px)])


def close(actual: tuple[float, ...], expected: tuple[float, ...], tol: float = 0.03) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def heatmap_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.collections and isinstance(ax.collections[0], QuadMesh)]


def test_cell_colours_at_centres() -> None:
    fig = plot_heatmap(rows_frame(quickstart_rows()), annotate=False)
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    # row = depth (0, 50, 100), column = length (1K, 2K, 4K); cell (i, j) is centred at (j, i)
    expected = {
        (0, 0): GREEN, (1, 0): RED, (2, 0): to_rgb(CMAP(0.5)),
        (0, 1): GRAY, (1, 1): GREEN, (2, 1): GREEN,
        (0, 2): RED, (1, 2): GREEN, (2, 2): WHITE,
    }
    for (i, j), colour in expected.items():
        assert close(pixel(image, ax, j, i), colour), (i, j, pixel(image, ax, j, i), colour)
    assert close(to_rgb(CMAP(0.5)), YELLOW, 0.02)


def test_partial_error_cell_carries_the_corner_mark() -> None:
    fig = plot_heatmap(rows_frame(quickstart_rows()), annotate=False)
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    # (50%, 2K) had one error and one success; its top-right corner (smaller y) is marked
    corner = pixel(image, ax, 1 + 0.5 - 0.06, 1 - 0.5 + 0.06)
    assert close(corner, DARK, 0.05), corner
    assert close(pixel(image, ax, 1, 1), GREEN)
    # no other cell has a mark
    for i, j in [(0, 0), (1, 0), (2, 0), (2, 1), (0, 2), (1, 2)]:
        assert not close(pixel(image, ax, j + 0.5 - 0.06, i - 0.5 + 0.06), DARK, 0.1), (i, j)
    marks = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert [len(c.get_paths()) for c in marks] == [1, 1]  # one gray cell, one corner mark
    assert MARK_SIZE < 0.5


def test_cell_count_orientation_and_labels() -> None:
    fig = plot_heatmap(rows_frame(quickstart_rows()))
    render(fig)
    (ax,) = heatmap_axes(fig)
    mesh = ax.collections[0]
    assert isinstance(mesh, QuadMesh)
    values = mesh.get_array()
    assert values is not None and values.size == 9
    assert int(np.ma.count(values)) == 7  # the all-error cell and the unrun cell are not drawn
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1K", "2K", "4K"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%", "50%", "100%"]
    # 0% is at the top: its centre is higher on screen than 100%'s
    assert ax.transData.transform((0, 0))[1] > ax.transData.transform((0, 2))[1]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["1", "0", "0.5", "error", "1", "1", "0", "1"])
    assert "openai/gpt-4o" in ax.get_title() and "recall 62.5%" in ax.get_title()
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "API error (every trial)", "API error (some trials)"]


def test_large_grid_is_drawn_cell_by_cell_without_annotations() -> None:
    lengths = [1000 + 3000 * k for k in range(35)]
    depths = [round(100 * k / 34, 3) for k in range(35)]
    rows = [
        make_row(length, depth, float((i + j) % 2), error=(i == 3 and j == 5))
        for j, length in enumerate(lengths) for i, depth in enumerate(depths)
    ]
    fig = plot_heatmap(rows_frame(rows))
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    assert not ax.texts
    assert len(ax.get_xticklabels()) == 35 and len(ax.get_yticklabels()) == 35
    counts = {"red": 0, "green": 0, "gray": 0}
    for i in range(35):
        for j in range(35):
            colour = pixel(image, ax, j, i)
            if i == 3 and j == 5:
                assert close(colour, GRAY), colour
                counts["gray"] += 1
            elif (i + j) % 2:
                assert close(colour, GREEN), (i, j, colour)
                counts["green"] += 1
            else:
                assert close(colour, RED), (i, j, colour)
                counts["red"] += 1
    assert counts == {"red": 612, "green": 612, "gray": 1}


def test_uneven_lengths_are_equal_width_columns() -> None:
    lengths = [1000, 1500, 32000, 1_000_000]
    fig = plot_heatmap(rows_frame([make_row(n, 50, 1.0) for n in lengths]))
    render(fig)
    (ax,) = heatmap_axes(fig)
    edges = [ax.transData.transform((j - 0.5, 0))[0] for j in range(5)]
    widths = np.diff(edges)
    assert widths.max() - widths.min() < 1.0
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1K", "1.5K", "32K", "1M"]


def test_comparison_stacks_models_on_shared_axes_and_splits_lengths() -> None:
    rows = [make_row(n, d, 1.0, model="google/gemini") for n in (1000, 128000, 1_000_000,
            10_000_000) for d in (0, 100)]
    rows += [make_row(n, d, 0.0, model="openai/gpt-4") for n in (1000, 128000) for d in (0, 100)]
    fig = plot_comparison(rows_frame(rows), split_at=1_000_000, annotate=False)
    image = render(fig)
    axes = heatmap_axes(fig)
    assert len(axes) == 4  # 2 models x 2 panels
    top_left, top_right, bottom_left, bottom_right = axes
    assert [t.get_text() for t in bottom_left.get_xticklabels()] == ["1K", "128K", "1M"]
    assert [t.get_text() for t in bottom_right.get_xticklabels()] == ["10M"]
    assert top_left.get_title(loc="left").startswith("google/gemini ")
    assert bottom_left.get_title(loc="left").startswith("openai/gpt-4 ")
    assert close(pixel(image, top_right, 0, 0), GREEN)
    assert close(pixel(image, bottom_left, 1, 1), RED)
    # gpt-4 was never run at 1M or 10M: blank, not red and not gray
    assert close(pixel(image, bottom_left, 2, 0), WHITE)
    assert close(pixel(image, bottom_right, 0, 1), WHITE)
    # shared depth axis: labels on the left panels only
    assert top_left.get_shared_y_axes().joined(top_left, bottom_right)


def test_comparison_accepts_a_list_of_frames() -> None:
    a = rows_frame([make_row(1000, 0, 1.0)])
    b = rows_frame([make_row(1000, 0, 0.0)])
    fig = plot_comparison([a, b])
    titles = [ax.get_title(loc="left") for ax in heatmap_axes(fig)]
    assert titles[0].startswith("openai/gpt-4o ") and titles[1].startswith("openai/gpt-4o #2")


def test_multi_needle_draws_one_recall_line_per_model() -> None:
    rows = [make_row(n, 0, s, needles=10, model="a/one") for n, s in [(1000, 1.0), (8000, 0.8)]]
    rows += [make_row(n, 0, s, needles=10, model="b/two") for n, s in [(1000, 0.6), (8000, 0.3)]]
    fig = plot_multi_needle(rows_frame(rows))
    render(fig)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a/one", "b/two"}
    assert np.asarray(lines["b/two"].get_ydata()).tolist() == pytest.approx([0.6, 0.3])
    assert "10 needles" in ax.get_title()


def test_heatmap_on_given_axes() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_heatmap(rows_frame(quickstart_rows()), ax=ax, title="Run A") is fig
    assert ax.get_title().startswith("Run A\nopenai/gpt-4o")


def test_axis_labels_stay_distinct() -> None:
    # niah.fmt.tokens spells every length exactly (tests/test_fmt.py), so labels differ
    assert length_labels([1000, 1024, 1001, 32768]) == ["1K", "1Ki", "1001", "32Ki"]
    assert depth_labels([0, 11.316, 11.35, 100]) == ["0%", "11.32%", "11.35%", "100%"]
    assert depth_labels([0, 50, 100]) == ["0%", "50%", "100%"]
