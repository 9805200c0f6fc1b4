"""Heatmaps checked by the colours of the saved PNG at cell centres, not by file existence."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PatchCollection, QuadMesh
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from niah.analysis import ResultsWarning, rows_frame
from niah.report.cells import MARK_SIZE
from niah.report.heatmap import CMAP, plot_heatmap, plot_multi_needle
from niah.report.ticks import depth_labels, length_labels
from niah.stats import wilson_interval
from tests.report.factory import answer_error_rows, make_row, quickstart_rows
from tests.report.pixels import (
    CLAUDE,
    DARK,
    GRAY,
    GREEN,
    HATCH,
    LIGHT,
    LIGHT_MARK,
    RED,
    WHITE,
    YELLOW,
    cell_pixels,
    close,
    heatmap_axes,
    pixel,
    render,
    share,
)


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


def test_annotate_on_cells_too_small_for_values_warns_and_writes_none() -> None:
    rows = [make_row(1000 + 1000 * k, 0, 1 / 3) for k in range(100)]  # "0.33" in 100 columns
    with pytest.warns(ResultsWarning, match=r"--annotate: the cells of openai/gpt-4o are "
                      r"too small \(\d+ x \d+ pt\) to hold their values; none written"):
        fig = plot_heatmap(rows_frame(rows), annotate=True)
    (ax,) = heatmap_axes(fig)
    assert not ax.texts
    # asked for on a grid that can hold them: every value, at a legible size
    fig = plot_heatmap(rows_frame(rows[:20]), annotate=True)
    (ax,) = heatmap_axes(fig)
    assert len(ax.texts) == 20 and min(t.get_fontsize() for t in ax.texts) >= 6
