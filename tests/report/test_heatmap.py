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
from niah.report.cells import (
    ERROR_COLOR,
    MARK_COLOR,
    MARK_SIZE,
    UNANSWERED_COLOR,
    UNANSWERED_HATCH,
    UNANSWERED_MARK_COLOR,
)
from niah.report.heatmap import (
    CMAP,
    depth_labels,
    length_labels,
    plot_comparison,
    plot_heatmap,
    plot_multi_needle,
)
from niah.stats import wilson_interval
from tests.report.factory import answer_error_rows, make_row, quickstart_rows

DPI = 100
RED, YELLOW, GREEN = to_rgb("#F0496E"), to_rgb("#EBB839"), to_rgb("#0CD79F")
GRAY, DARK, WHITE = to_rgb(ERROR_COLOR), to_rgb(MARK_COLOR), (1.0, 1.0, 1.0)
LIGHT, HATCH, LIGHT_MARK = (to_rgb(UNANSWERED_COLOR), to_rgb(UNANSWERED_HATCH),
                            to_rgb(UNANSWERED_MARK_COLOR))
CLAUDE = "anthropic/claude-3-5-sonnet"


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


def cell_pixels(image: np.ndarray, ax: Axes, i: int, j: int, inset: float = 0.15) -> np.ndarray:
    """Every pixel of cell (i, j) away from its border, as an (n, 3) array."""
    (x0, y0), (x1, y1) = ax.transData.transform([(j - 0.5 + inset, i - 0.5 + inset),
                                                 (j + 0.5 - inset, i + 0.5 - inset)])
    rows = sorted(int(image.shape[0] - y) for y in (y0, y1))
    cols = sorted(int(x) for x in (x0, x1))
    return image[rows[0]:rows[1], cols[0]:cols[1]].reshape(-1, 3)


def share(pixels: np.ndarray, colour: tuple[float, ...], tol: float = 0.03) -> float:
    """The fraction of ``pixels`` within ``tol`` of ``colour`` in every channel."""
    return float((np.abs(pixels - np.asarray(colour)) <= tol).all(axis=1).mean())


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


def test_multi_needle_error_bars_span_each_lengths_wilson_interval() -> None:
    # 2 trials of 10 needles at each length: 20 of 20, then 12 of 20 found
    rows = [make_row(n, 0, s, needles=10, repeat=r) for n, s in [(1000, 1.0), (8000, 0.6)]
            for r in range(2)]
    fig = plot_multi_needle(rows_frame(rows), confidence=0.9)
    render(fig)
    (ax,) = fig.axes
    (container,) = ax.containers
    segments = container.lines[2][0].get_segments()
    spans = [(float(seg[0][0]), float(seg[0][1]), float(seg[1][1])) for seg in segments]
    assert spans == pytest.approx([(1000, *wilson_interval(20, 20, 0.9)),
                                   (8000, *wilson_interval(12, 20, 0.9))])
    assert "bars: 90% intervals" in ax.get_title()


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


def test_unanswered_cells_are_hatched_light_gray_apart_from_api_errors() -> None:
    fig = plot_heatmap(rows_frame(answer_error_rows()), annotate=False)
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    unanswered = cell_pixels(image, ax, 0, 0)  # (0%, 1K): truncated + empty
    assert share(unanswered, LIGHT) > 0.5, share(unanswered, LIGHT)
    assert share(unanswered, HATCH) > 0.03  # hatch lines cross the cell
    assert share(unanswered, GRAY) < 0.05 and share(unanswered, WHITE) < 0.05
    for i, j in [(1, 1), (0, 1)]:  # two API errors; an API error + a truncated reply
        api = cell_pixels(image, ax, i, j)
        assert share(api, GRAY) > 0.8 and share(api, LIGHT) < 0.05, (i, j)
    # pixel() takes data (x, y) = (column j, row i)
    assert close(pixel(image, ax, 1, 0), GRAY)
    assert close(pixel(image, ax, 2, 0), RED) and close(pixel(image, ax, 2, 1), GREEN)


def test_partial_unanswered_cells_carry_a_light_top_left_mark() -> None:
    fig = plot_heatmap(rows_frame(answer_error_rows()), annotate=False)
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    top_left = (-0.5 + 0.06, -0.5 + 0.06)  # offsets from a cell's centre (y down is +)
    top_right = (0.5 - 0.06, -0.5 + 0.06)
    # (50%, 1K): score 1 + truncated; (0%, 2K): gray (API error) + truncated
    for i, j in [(1, 0), (0, 1)]:
        assert close(pixel(image, ax, j + top_left[0], i + top_left[1]), LIGHT_MARK, 0.05), (i, j)
        assert not close(pixel(image, ax, j + top_right[0], i + top_right[1]), DARK, 0.1)
    assert close(pixel(image, ax, 0, 1), GREEN)  # the mark leaves the cell's colour
    # (50%, 4K): score 1 + API error -> the dark top-right mark, no light one
    assert close(pixel(image, ax, 2 + top_right[0], 1 + top_right[1]), DARK, 0.05)
    assert close(pixel(image, ax, 2 + top_left[0], 1 + top_left[1]), GREEN)
    # no mark on the unanswered cell itself, nor on the plain red one
    for i, j in [(0, 0), (0, 2)]:
        assert not close(pixel(image, ax, j + top_left[0], i + top_left[1]), LIGHT_MARK, 0.02)
        assert not close(pixel(image, ax, j + top_right[0], i + top_right[1]), DARK, 0.1)


def test_unanswered_legend_title_and_annotations() -> None:
    fig = plot_heatmap(rows_frame(answer_error_rows(model="openai/gpt-4o")))
    render(fig)
    (ax,) = heatmap_axes(fig)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "API error (every trial)", "API error (some trials)",
        "no answer: truncated/empty (every trial)", "no answer: truncated/empty (some trials)"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["no\nanswer", "1", "error", "error", "0", "1"])
    assert ax.get_title().splitlines()[-1] == (
        "recall 66.7% · 11 trials · 4 API errors · 4 unanswered")


def test_quickstart_legend_has_no_unanswered_entries() -> None:
    fig = plot_heatmap(rows_frame(quickstart_rows()))
    assert "no answer" not in " ".join(t.get_text() for t in fig.legends[0].get_texts())


@pytest.mark.parametrize(
    ("model", "tokenizer", "estimated", "caption"),
    [
        (CLAUDE, "tiktoken:cl100k_base", False,
         "lengths in cl100k_base tokens (approximate for this model)"),
        ("gemini/gemini-1.5-pro", "tiktoken:cl100k_base", False,
         "lengths in cl100k_base tokens (approximate for this model)"),
        ("openai/gpt-4o", "tiktoken:cl100k_base", False,
         "lengths in cl100k_base tokens (approximate for this model)"),
        ("gkamradt/gpt-4", None, True, "lengths as imported (estimated, not counted by niah)"),
        ("openai/gpt-4o", None, False, "lengths in tokens of an unrecorded tokenizer"),
        ("openai/gpt-4o", "tiktoken:o200k_base", False, None),
        ("llamacpp/smollm2-135m", "llamacpp:smollm2.gguf", False, None),
    ],
)
def test_title_says_when_lengths_are_not_the_models_own_tokens(
    model: str, tokenizer: str | None, estimated: bool, caption: str | None
) -> None:
    rows = [make_row(1000, 0, 1.0, model=model, estimated=estimated)]
    df = rows_frame(rows, tokenizers={model: tokenizer})
    fig = plot_heatmap(df)
    (ax,) = heatmap_axes(fig)
    lines = ax.get_title().splitlines()
    assert lines[0] == model
    assert lines[1:-1] == ([caption] if caption else [])
    assert lines[-1] == "recall 100.0% · 1 trial"


def test_comparison_panel_titles_carry_the_length_caption() -> None:
    rows = [make_row(1000, 0, 1.0, model=CLAUDE), make_row(1000, 0, 1.0, model="openai/gpt-4o")]
    df = rows_frame(rows, tokenizers={CLAUDE: "tiktoken:cl100k_base",
                                      "openai/gpt-4o": "tiktoken:o200k_base"})
    fig = plot_comparison(df)
    render(fig)
    claude, gpt = (ax.get_title(loc="left") for ax in heatmap_axes(fig))
    assert claude == (f"{CLAUDE}  ·  recall 100.0% · 1 trial\n"
                      "lengths in cl100k_base tokens (approximate for this model)")
    assert gpt == "openai/gpt-4o  ·  recall 100.0% · 1 trial"


def test_comparison_draws_unanswered_apart_and_keeps_one_legend_order() -> None:
    rows = [make_row(1000, 0, model="a/one", error="truncated"),
            make_row(1000, 0, model="b/two", error=True)]
    fig = plot_comparison(rows_frame(rows), annotate=False)
    image = render(fig)
    one, two = heatmap_axes(fig)
    assert share(cell_pixels(image, one, 0, 0), LIGHT) > 0.5
    assert share(cell_pixels(image, two, 0, 0), GRAY) > 0.8
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "API error (every trial)", "no answer: truncated/empty (every trial)"]
