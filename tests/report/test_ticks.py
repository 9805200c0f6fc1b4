"""Tick labels: exact strings for gkamradt's published grids, and labels that never lie."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from niah.analysis import rows_frame
from niah.report.heatmap import plot_heatmap
from niah.report.ticks import (
    MAX_ROUNDING,
    TICK_PT,
    depth_labels,
    length_axis_label,
    length_labels,
    length_ticks,
)
from tests.report.factory import make_row
from tests.report.pixels import heatmap_axes, render


def linspace(lo: int, hi: int, n: int) -> list[int]:
    """gkamradt's grid: ``np.round(np.linspace(lo, hi, n)).astype(int)``."""
    return [int(x) for x in np.round(np.linspace(lo, hi, n)).astype(int)]


CLAUDE_LENGTHS = linspace(1000, 200_000, 35)
CLAUDE_DEPTHS = [  # his sigmoid depths, as in original_results/Anthropic_Original_Results
    0.0, 0.896, 1.199, 1.602, 2.138, 2.849, 3.786, 5.016, 6.617, 8.683, 11.316, 14.62,
    18.685, 23.569, 29.269, 35.704, 42.7, 50.0, 57.3, 64.296, 70.731, 76.431, 81.315, 85.38,
    88.684, 91.317, 93.383, 94.984, 96.214, 97.151, 97.862, 98.398, 98.801, 99.104, 100.0]
GPT4_LENGTHS = linspace(1000, 128_000, 15)
GPT4_DEPTHS = [float(x) for x in np.round(np.linspace(0, 100, 15))]


def test_the_classic_35_length_grid() -> None:
    # the 35-length grid of his code (1000 ... 128000): 4735 -> "5K", 64500 -> "65K"
    ticks = length_ticks(linspace(1000, 128_000, 35))
    assert ticks.labels == [
        "1K", "5K", "8K", "12K", "16K", "20K", "23K", "27K", "31K", "35K", "38K", "42K",
        "46K", "50K", "53K", "57K", "61K", "65K", "68K", "72K", "76K", "79K", "83K", "87K",
        "91K", "94K", "98K", "102K", "106K", "109K", "113K", "117K", "121K", "124K", "128K"]
    assert ticks.rounded


def test_claude_2_1_grid_reads_like_his_published_figure() -> None:
    # his figure (img/Claude_2_1_testing.png) has the same labels, except "170K" for
    # 170735, which rounds to 171K
    assert length_labels(CLAUDE_LENGTHS) == [
        "1K", "7K", "13K", "19K", "24K", "30K", "36K", "42K", "48K", "54K", "60K", "65K",
        "71K", "77K", "83K", "89K", "95K", "101K", "106K", "112K", "118K", "124K", "130K",
        "136K", "141K", "147K", "153K", "159K", "165K", "171K", "177K", "182K", "188K",
        "194K", "200K"]


def test_the_15_length_grid_rounds_where_his_gpt_4_figure_truncates() -> None:
    # his GPT-4 figure truncates (73571 -> "73K"); niah rounds to the nearest 1K
    assert length_labels(GPT4_LENGTHS) == [
        "1K", "10K", "19K", "28K", "37K", "46K", "55K", "65K", "74K", "83K", "92K", "101K",
        "110K", "119K", "128K"]


def test_his_default_grid_keeps_a_decimal_where_whole_ks_would_merge() -> None:
    labels = length_labels(linspace(1000, 16_000, 35))  # steps of ~441 tokens
    assert labels[:6] == ["1K", "1.4K", "1.9K", "2.3K", "2.8K", "3.2K"]
    assert labels[-1] == "16K" and len(set(labels)) == 35


@pytest.mark.parametrize(
    ("lengths", "labels", "rounded"),
    [
        ([1000, 2000, 4000, 1_000_000], ["1K", "2K", "4K", "1M"], False),  # exact spellings
        ([4096, 32768, 131072], ["4Ki", "32Ki", "128Ki"], False),
        ([1000, 1500, 10071], ["1K", "1.5K", "10.1K"], True),  # 1.5K never becomes "2K"
        ([500, 10071, 1_234_567], ["500", "10.1K", "1.2M"], True),  # one precision per axis
        ([1000, 1024, 1001, 32768], ["1K", "1Ki", "1001", "32Ki"], False),  # no rounding fits
        ([999_600, 2_000_001], ["1M", "2M"], True),
        ([999_600, 2_000_000], ["999.6K", "2M"], False),
    ],
)
def test_rounded_only_when_distinct_and_close(
    lengths: list[int], labels: list[str], rounded: bool
) -> None:
    ticks = length_ticks(lengths)
    assert (ticks.labels, ticks.rounded) == (labels, rounded)


@pytest.mark.parametrize("lengths", [CLAUDE_LENGTHS, GPT4_LENGTHS, linspace(1000, 16000, 35),
                                     [1000, 1441, 1882, 99_999, 1_234_567]])
def test_a_rounded_label_is_never_far_off(lengths: list[int]) -> None:
    for n, label in zip(lengths, length_labels(lengths), strict=True):
        value = float(label.rstrip("KM")) * {"K": 1e3, "M": 1e6}.get(label[-1], 1.0)
        assert abs(value - n) <= MAX_ROUNDING * n, (n, label)


def test_depths_keep_at_most_the_grids_precision() -> None:
    labels = depth_labels(CLAUDE_DEPTHS)
    assert labels[:6] == ["0%", "0.9%", "1.2%", "1.6%", "2.1%", "2.8%"]
    assert labels[10] == "11.3%" and labels[-2:] == ["99.1%", "100%"]
    assert depth_labels(GPT4_DEPTHS) == [
        "0%", "7%", "14%", "21%", "29%", "36%", "43%", "50%", "57%", "64%", "71%", "79%",
        "86%", "93%", "100%"]


def test_the_axis_says_when_ticks_are_rounded() -> None:
    assert length_axis_label(True) == "Context length (tokens; ticks rounded)"
    rows = [make_row(n, d, 1.0) for n in GPT4_LENGTHS for d in (0, 50)]
    fig = plot_heatmap(rows_frame(rows))
    (ax,) = heatmap_axes(fig)
    assert ax.get_xlabel() == "Context length (tokens; ticks rounded)"
    exact = plot_heatmap(rows_frame([make_row(n, 0, 1.0) for n in (1000, 2000)]))
    assert heatmap_axes(exact)[0].get_xlabel() == "Context length (tokens)"


def test_35_by_35_labels_are_all_drawn_horizontal_and_apart() -> None:
    rows = [make_row(n, d, 1.0) for n in CLAUDE_LENGTHS for d in CLAUDE_DEPTHS]
    fig = plot_heatmap(rows_frame(rows))
    render(fig)
    (ax,) = heatmap_axes(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    xs = ax.get_xticklabels()
    ys = ax.get_yticklabels()
    assert [t.get_text() for t in xs] == length_labels(CLAUDE_LENGTHS)
    assert [t.get_text() for t in ys] == depth_labels(CLAUDE_DEPTHS)
    assert all(t.get_visible() and t.get_fontsize() >= TICK_PT for t in xs + ys)
    assert {t.get_rotation() for t in xs} == {0.0}  # they fit side by side
    x_boxes = sorted((t.get_window_extent(renderer) for t in xs), key=lambda b: b.x0)
    assert all(b.x0 > a.x1 for a, b in itertools.pairwise(x_boxes))
    y_boxes = sorted((t.get_window_extent(renderer) for t in ys), key=lambda b: b.y0)
    assert all(b.y0 > a.y1 for a, b in itertools.pairwise(y_boxes))


def test_labels_turn_only_when_they_would_touch() -> None:
    lengths = [1000 * (k + 1) + 7 for k in range(50)]  # 50 labels like "1K" ... "50K"
    fig = plot_heatmap(rows_frame([make_row(n, 0, 1.0) for n in lengths]))
    render(fig)
    (ax,) = heatmap_axes(fig)
    assert len(ax.get_xticklabels()) == 50
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    few = plot_heatmap(rows_frame([make_row(n, 0, 1.0) for n in GPT4_LENGTHS]))
    assert {t.get_rotation() for t in heatmap_axes(few)[0].get_xticklabels()} == {0.0}


def test_duration_axes_read_in_minutes_or_hours() -> None:
    from niah.report.ticks import duration_axis_label, duration_labels

    assert duration_labels([30, 60, 120]) == ["0.5", "1", "2"]
    assert duration_axis_label([30, 60, 120]) == "Duration (minutes)"
    assert duration_labels([72, 4320]) == ["1.2", "72"]
    assert duration_axis_label([72, 4320, 10800]) == "Duration (hours)"
    assert duration_labels([72, 4320, 10800]) == ["0.02", "1.2", "3"]
    assert duration_axis_label([5, 10, 90]) == "Duration (seconds)"
    assert duration_labels([5, 10, 90]) == ["5", "10", "90"]
