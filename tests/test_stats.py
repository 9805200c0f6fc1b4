"""Interval maths against published values and closed forms.

Single proportions: Newcombe (1998a), "Two-sided confidence intervals for the single
proportion: comparison of seven methods", Stat Med 17:857-872, Table I, method 3 (the
Wilson score interval without continuity correction). Differences: Newcombe (1998b),
"Interval estimation for the difference between independent proportions: comparison
of eleven methods", Stat Med 17:873-890, Table II, method 10. Both print 4 decimals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from niah.stats import (
    RULER_THRESHOLD,
    Difference,
    EffectiveLength,
    absolute_effective_length,
    difference_interval,
    effective_length,
    relative_effective_length,
    wilson_interval,
    wilson_intervals,
    z_value,
)

PRINTED = 5e-5
"""Half a unit in the 4th decimal: the published tables are rounded there."""


@pytest.mark.parametrize(
    ("confidence", "z"),
    [(0.95, 1.959963984540054), (0.90, 1.6448536269514722), (0.99, 2.5758293035489004)],
)
def test_z_value_is_the_two_sided_normal_quantile(confidence: float, z: float) -> None:
    assert z_value(confidence) == pytest.approx(z, rel=1e-12)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0, -0.5])
def test_z_value_rejects_levels_outside_0_1(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be in"):
        z_value(confidence)


@pytest.mark.parametrize(
    ("found", "asked", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998_table_1(
    found: int, asked: int, low: float, high: float
) -> None:
    assert wilson_interval(found, asked) == pytest.approx((low, high), abs=PRINTED)


def test_wilson_at_other_levels() -> None:
    # 81/263 at 90% and 99%, as scipy.stats.binomtest(81, 263).proportion_ci(level,
    # method="wilson") gives them (the same formula, implemented apart)
    assert wilson_interval(81, 263, 0.90) == pytest.approx((0.26331, 0.35657), abs=1e-5)
    assert wilson_interval(81, 263, 0.99) == pytest.approx((0.24014, 0.38528), abs=1e-5)


@pytest.mark.parametrize("n", [1, 3, 10, 40, 1000])
def test_wilson_at_all_or_nothing_has_its_closed_form(n: int) -> None:
    """At p = 1 the lower bound is n / (n + z^2); at p = 0 the upper is z^2 / (n + z^2):
    a cell where every needle was found still has an interval, unlike p ± z·se."""
    z2 = z_value() ** 2
    assert wilson_interval(n, n) == (pytest.approx(n / (n + z2), rel=1e-12), 1.0)
    assert wilson_interval(0, n) == (0.0, pytest.approx(z2 / (n + z2), rel=1e-12))
    assert wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=PRINTED)


def test_wilson_is_elementwise_and_unknown_where_nothing_was_asked() -> None:
    low, high = wilson_intervals([81, 0, 3, 2.5], [263, 0, 3, 5])
    assert low[0] == pytest.approx(0.2553, abs=PRINTED)
    assert math.isnan(low[1]) and math.isnan(high[1])
    assert high[2] == 1.0
    # a fractional count (an imported judge score) is read as that much of a needle
    assert low[3] < 0.5 < high[3]
    assert low[3] + high[3] == pytest.approx(1.0)  # p = 0.5: symmetric
    assert wilson_interval(0, 0) == (pytest.approx(math.nan, nan_ok=True),
                                     pytest.approx(math.nan, nan_ok=True))


def test_wilson_holds_the_proportion_inside_0_1() -> None:
    asked = np.arange(1, 60)
    for found in (np.zeros_like(asked), asked // 3, asked - 1, asked):
        low, high = wilson_intervals(found, asked)
        p = found / asked
        assert np.all((low >= 0) & (low <= p) & (p <= high) & (high <= 1))
        assert np.all(high - low > 0)


def test_a_wider_level_gives_a_wider_interval() -> None:
    widths = [np.subtract(*reversed(wilson_interval(7, 12, c))) for c in (0.8, 0.9, 0.95, 0.99)]
    assert widths == sorted(widths)


@pytest.mark.parametrize(
    ("a", "b", "difference", "low", "high"),
    [
        ((56, 70), (48, 80), 0.2000, 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.6000, 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.5714, 0.0582, 0.8062),
        ((5, 56), (0, 29), 0.0893, -0.0381, 0.1926),
        ((0, 10), (0, 20), 0.0, -0.1611, 0.2775),
        ((0, 10), (0, 10), 0.0, -0.2775, 0.2775),
        ((10, 10), (0, 20), 1.0, 0.6791, 1.0),
        ((10, 10), (0, 10), 1.0, 0.6075, 1.0),
    ],
)
def test_difference_matches_newcombe_1998_table_2_method_10(
    a: tuple[int, int], b: tuple[int, int], difference: float, low: float, high: float
) -> None:
    diff = difference_interval(a[0], a[1], b[0], b[1])
    assert (diff.difference, diff.low, diff.high) == pytest.approx(
        (difference, low, high), abs=PRINTED)


def test_a_difference_is_within_noise_when_its_interval_holds_zero() -> None:
    assert difference_interval(56, 70, 48, 80).within_noise is False  # 0.0524..0.3339
    assert difference_interval(5, 56, 0, 29).within_noise is True  # -0.0381..0.1926
    swapped = difference_interval(48, 80, 56, 70)
    assert swapped.difference == pytest.approx(-0.2)
    assert (swapped.low, swapped.high) == pytest.approx((-0.3339, -0.0524), abs=PRINTED)
    assert swapped.within_noise is False
    unknown = difference_interval(3, 4, 0, 0)
    assert math.isnan(unknown.difference) and unknown.within_noise is None


def test_intervals_that_overlap_can_still_differ() -> None:
    """Why overlap is not the test: 20/40 vs 30/40 overlap at 95% yet differ."""
    a, b = wilson_interval(20, 40), wilson_interval(30, 40)
    assert a[1] > b[0]  # the two error bars overlap: 35.2-64.8% and 59.8-85.8%
    diff = difference_interval(30, 40, 20, 40)
    assert diff.within_noise is False and diff.low == pytest.approx(0.0379, abs=1e-4)


def test_difference_is_a_frozen_record() -> None:
    diff = Difference(0.1, -0.1, 0.3)
    assert diff.within_noise is True
    with pytest.raises(AttributeError):
        diff.low = 0.0  # type: ignore[misc]


RECALL = {1000: 1.0, 2000: 0.9, 4000: 0.86, 8000: 0.8, 16000: 1.0}


@pytest.mark.parametrize(
    ("recall", "threshold", "expected"),
    [
        (RECALL, 0.85, EffectiveLength(4000, 8000, 0.85)),
        ({1000: 0.5, 2000: 0.43, 4000: 0.42}, 0.85, EffectiveLength(2000, 4000, 0.425)),
        ({1000: 1.0, 2000: 1.0}, 1.0, EffectiveLength(2000, None, 1.0)),
        ({4000: 1.0, 1000: 1.0, 2000: 0.1}, 0.85, EffectiveLength(1000, 2000, 0.85)),
        ({1000: 1.0, 2000: math.nan, 4000: 1.0}, 0.85, EffectiveLength(1000, 2000, 0.85)),
        ({1000: 0.85, 2000: 17 / 20}, 1.0, EffectiveLength(2000, None, 0.85)),
    ],
)
def test_relative_effective_length_and_where_it_breaks(
    recall: dict[int, float], threshold: float, expected: EffectiveLength
) -> None:
    got = relative_effective_length(recall, threshold)
    assert (got.length, got.breaks_at) == (expected.length, expected.breaks_at)
    assert got.bar == pytest.approx(expected.bar)


@pytest.mark.parametrize("recall", [{1000: 0.0, 2000: 0.0}, {1000: math.nan, 2000: 1.0}])
def test_no_short_context_recall_means_no_relative_length(recall: dict[int, float]) -> None:
    got = relative_effective_length(recall)
    assert (got.length, got.breaks_at) == (None, 1000) and math.isnan(got.bar)


def test_absolute_effective_length_uses_one_bar_for_every_model() -> None:
    assert RULER_THRESHOLD == 0.856
    assert absolute_effective_length(RECALL) == EffectiveLength(4000, 8000, 0.856)
    assert absolute_effective_length(RECALL, 0.9) == EffectiveLength(2000, 4000, 0.9)
    # a model weak from the start: the relative rule holds everywhere, the absolute nowhere
    weak = {1000: 0.5, 2000: 0.5, 4000: 0.45}
    assert relative_effective_length(weak).length == 4000
    assert absolute_effective_length(weak) == EffectiveLength(None, 1000, 0.856)
    assert absolute_effective_length({}) == EffectiveLength(None, None, 0.856)


def test_the_scan_reads_17_of_20_as_holding_a_bar_of_85_percent() -> None:
    assert effective_length({1000: 17 / 20, 2000: 0.849}, 0.85) == EffectiveLength(
        1000, 2000, 0.85)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01])
def test_thresholds_outside_0_1_are_rejected(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        relative_effective_length({1000: 1.0}, threshold)
    with pytest.raises(ValueError, match="absolute threshold must be in"):
        absolute_effective_length({1000: 1.0}, threshold)
