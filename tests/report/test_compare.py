"""Comparisons: each model on its own grid, one length scale, checked in the rendered PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh

from niah.analysis import rows_frame
from niah.report.compare import LengthAxis, plot_comparison
from niah.report.ticks import depth_labels, length_labels
from tests.report.factory import make_row
from tests.report.pixels import (
    CLAUDE,
    GRAY,
    GREEN,
    LIGHT,
    RED,
    WHITE,
    cell_pixels,
    centres,
    close,
    heatmap_axes,
    pixel,
    render,
    share,
    white_runs,
)
from tests.report.test_ticks import CLAUDE_DEPTHS, CLAUDE_LENGTHS, GPT4_DEPTHS, GPT4_LENGTHS


def checkerboard(model: str, lengths: list[int], depths: list[float]) -> list:  # type: ignore[type-arg]
    return [make_row(n, d, float((i + j) % 2), model=model)
            for j, n in enumerate(lengths) for i, d in enumerate(depths)]


@pytest.fixture(scope="module")
def claude_vs_gpt4() -> pd.DataFrame:
    """gkamradt's two published grids: Claude 2.1 35 x 35 to 200K, GPT-4 Turbo 15 x 15."""
    return rows_frame(checkerboard("gkamradt/claude-2.1", CLAUDE_LENGTHS, CLAUDE_DEPTHS)
                      + checkerboard("gkamradt/gpt-4", GPT4_LENGTHS, GPT4_DEPTHS))


def mesh_edges(ax: Axes) -> np.ndarray:
    """Corner coordinates of the panel's cells, (rows + 1, columns + 1, 2), in data units."""
    mesh = ax.collections[0]
    assert isinstance(mesh, QuadMesh)
    return np.asarray(mesh.get_coordinates())


def to_image(ax: Axes, image: np.ndarray, x: float, y: float) -> tuple[int, int]:
    px, py = ax.transData.transform((x, y))
    return int(image.shape[0] - py), int(px)


def test_each_model_is_drawn_on_its_own_grid(claude_vs_gpt4: pd.DataFrame) -> None:
    fig = plot_comparison(claude_vs_gpt4, annotate=False)
    image = render(fig)
    claude, gpt4 = heatmap_axes(fig)
    for ax, lengths, depths in [(claude, CLAUDE_LENGTHS, CLAUDE_DEPTHS),
                                (gpt4, GPT4_LENGTHS, GPT4_DEPTHS)]:
        # its own ticks only: not the 49 x 47 union of both grids
        assert [t.get_text() for t in ax.get_xticklabels()] == length_labels(lengths)
        assert [t.get_text() for t in ax.get_yticklabels()] == depth_labels(depths)
        xs, ys = centres(ax)
        for j, x in enumerate(xs):
            for i, y in enumerate(ys):
                want = GREEN if (i + j) % 2 else RED
                assert close(pixel(image, ax, x, y), want), (ax.get_title(loc="left"), i, j)


def test_no_panel_has_empty_rows_or_columns(claude_vs_gpt4: pd.DataFrame) -> None:
    fig = plot_comparison(claude_vs_gpt4, annotate=False)
    image = render(fig)
    for ax in heatmap_axes(fig):
        corners = mesh_edges(ax)
        left, right = corners[0, 0, 0], corners[0, -1, 0]
        top, bottom = corners[0, 0, 1], corners[-1, 0, 1]
        xs, ys = centres(ax)
        for y in ys:  # along each row, from the first cell's left edge to the last's right
            (r, c0), (_, c1) = to_image(ax, image, left, y), to_image(ax, image, right, y)
            assert not white_runs(image[r, c0 + 2:c1 - 2], 3), ("row", y)
        for x in xs:  # down each column
            (r0, c), (r1, _) = to_image(ax, image, x, top), to_image(ax, image, x, bottom)
            assert not white_runs(image[r0 + 2:r1 - 2, c], 3), ("column", x)


def test_panels_share_one_length_scale(claude_vs_gpt4: pd.DataFrame) -> None:
    fig = plot_comparison(claude_vs_gpt4, annotate=False)
    render(fig)
    claude, gpt4 = heatmap_axes(fig)

    def screen_x(ax: Axes, k: int) -> float:
        return float(ax.transData.transform((ax.get_xticks()[k], 0))[0])

    # 1K is in both grids: one x on screen; 128K lies between Claude's 124K and 130K
    assert abs(screen_x(claude, 0) - screen_x(gpt4, 0)) < 1.0
    assert screen_x(claude, 21) < screen_x(gpt4, 14) < screen_x(claude, 22)
    # the same number of pixels per token in both panels
    per_token_claude = (screen_x(claude, 34) - screen_x(claude, 0)) / (200_000 - 1000)
    per_token_gpt4 = (screen_x(gpt4, 14) - screen_x(gpt4, 0)) / (128_000 - 1000)
    assert per_token_gpt4 == pytest.approx(per_token_claude, rel=1e-3)
    assert claude.get_xlim() == gpt4.get_xlim()


def test_models_on_one_grid_share_categorical_columns() -> None:
    rows = checkerboard("a/one", GPT4_LENGTHS, GPT4_DEPTHS)
    rows += checkerboard("b/two", GPT4_LENGTHS, GPT4_DEPTHS)
    fig = plot_comparison(rows_frame(rows), annotate=False)
    image = render(fig)
    one, two = heatmap_axes(fig)
    assert list(one.get_xticks()) == list(range(15)) == list(two.get_xticks())
    # the length labels are written once, under the bottom panel
    assert not one.xaxis.get_tick_params()["labelbottom"]
    assert two.xaxis.get_tick_params()["labelbottom"]
    assert close(pixel(image, one, 0, 0), RED) and close(pixel(image, two, 14, 1), GREEN)


def test_a_model_whose_lengths_are_a_prefix_lines_up_under_the_longer_one() -> None:
    # the Gemini 1.5 report's figure: Gemini to 10M split at 1M, GPT-4 Turbo to 128K beneath
    rows = [make_row(n, d, 1.0, model="google/gemini") for n in (1000, 128000, 1_000_000,
            10_000_000) for d in (0, 100)]
    rows += [make_row(n, d, 0.0, model="openai/gpt-4") for n in (1000, 128000) for d in (0, 100)]
    fig = plot_comparison(rows_frame(rows), split_at=1_000_000, annotate=False)
    image = render(fig)
    axes = heatmap_axes(fig)
    assert len(axes) == 3  # GPT-4 Turbo ran nothing past 1M: no empty panel for it
    gemini_left, gemini_right, gpt4 = axes
    assert [t.get_text() for t in gemini_left.get_xticklabels()] == ["1K", "128K", "1M"]
    assert [t.get_text() for t in gemini_right.get_xticklabels()] == ["10M"]
    assert [t.get_text() for t in gpt4.get_xticklabels()] == ["1K", "128K"]
    assert gemini_left.get_title(loc="left").startswith("google/gemini ")
    assert gpt4.get_title(loc="left").startswith("openai/gpt-4 ")
    assert list(gpt4.get_xticks()) == [0.0, 1.0] and gpt4.get_xlim() == gemini_left.get_xlim()
    assert close(pixel(image, gemini_right, 0, 0), GREEN)
    assert close(pixel(image, gpt4, 1, 1), RED)
    assert close(pixel(image, gpt4, 2, 0), WHITE)  # past its last length: nothing drawn
    hidden = [ax for ax in fig.axes if not ax.axison]
    assert len(hidden) == 1


@pytest.mark.parametrize(
    ("runs", "categorical", "log"),
    [
        ([[1000, 2000, 4000], [1000, 2000, 4000]], True, False),
        ([[1000, 2000, 4000, 8000], [1000, 2000]], True, False),
        ([CLAUDE_LENGTHS, GPT4_LENGTHS], False, False),
        ([[1000, 4000, 16000, 64000], [2000, 8000, 32000, 128000]], False, True),
    ],
)
def test_length_axis_kind(runs: list[list[int]], categorical: bool, log: bool) -> None:
    axis = LengthAxis(runs)
    assert (axis.categorical, axis.log) == (categorical, log)
    for run in runs:  # cells tile each model's range: no gap, no overlap
        edges = axis.edges(run)
        assert len(edges) == len(run) + 1 and (np.diff(edges) > 0).all()


def test_comparison_accepts_a_list_of_frames() -> None:
    a = rows_frame([make_row(1000, 0, 1.0)])
    b = rows_frame([make_row(1000, 0, 0.0)])
    fig = plot_comparison([a, b])
    titles = [ax.get_title(loc="left") for ax in heatmap_axes(fig)]
    assert titles[0].startswith("openai/gpt-4o ") and titles[1].startswith("openai/gpt-4o #2")


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


def test_scripted_models_say_they_are_fakes() -> None:
    rows = [make_row(1000, 0, 1.0, model="scripted/perfect"), make_row(1000, 0, 1.0)]
    fig = plot_comparison(rows_frame(rows))
    titles = [ax.get_title(loc="left") for ax in heatmap_axes(fig)]
    assert titles[0].startswith("scripted/perfect (scripted fake, not a model)  ·  recall")
    assert titles[1].startswith("openai/gpt-4o  ·  ")


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


def test_annotate_writes_values_wherever_the_cells_hold_them(
    claude_vs_gpt4: pd.DataFrame,
) -> None:
    fig = plot_comparison(claude_vs_gpt4, annotate=True)
    render(fig)
    claude, gpt4 = heatmap_axes(fig)
    assert len(claude.texts) == 35 * 35 and len(gpt4.texts) == 15 * 15
    assert {t.get_text() for t in gpt4.texts} == {"0", "1"}
    assert min(t.get_fontsize() for t in claude.texts + gpt4.texts) >= 6
