"""Interval maths for recall: Wilson intervals, differences of two proportions, and the
effective context length scan. Plain numbers and numpy arrays in, numbers out; no
pandas, so every formula here is checked against published values on its own
(``tests/test_stats.py``).

**What is counted.** Recall is a proportion of needles: each asked-for needle is one
Bernoulli trial, so a cell's recall is needles found / needles asked over its scored
trials (for single-needle runs: trials found / trials scored). ``niah.analysis`` does
the counting; this module only does the arithmetic on (found, asked) pairs.

**Why Wilson.** The textbook interval ``p ± z·sqrt(p(1-p)/n)`` collapses to zero width
at p = 0 or 1 — exactly the cells a needle test is full of (every needle found) — and
strays outside [0, 1]. Wilson's score interval (Wilson 1927) stays inside [0, 1], has
a width at p = 1 (10 of 10 found: 72.2% to 100%) and keeps close to its nominal
coverage down to a handful of trials (Newcombe 1998a; Brown, Cai & DasGupta 2001).
It is also what ``statsmodels``' ``proportion_confint(method="wilson")`` and R's
``prop.test(correct=FALSE)`` report, so the numbers can be checked elsewhere.

**Why Newcombe for differences.** Whether two models differ at a length is read from
a 95% interval for the difference of their recalls, Newcombe's hybrid score interval
(1998b, method 10), which is built from the two Wilson intervals: the same error
bars the figures show, combined correctly. "Their intervals overlap" is not used:
two 95% intervals can overlap while the difference is clearly non-zero (overlap is
roughly a test at the 0.5% level), so it would call real differences noise.

Caveats, stated where the numbers are shown: needles placed in one trial share one
context and one reply, so they are not independent and a multi-needle interval is
somewhat too narrow; two models run on the same trials are paired data, which the
independent-samples interval ignores (that errs on the wide side when the models
find the same needles). An imported judge score (0..1 rather than found or not)
counts as that fraction of a needle; a score in [0, 1] varies no more than a
Bernoulli trial of the same mean, so the interval stays on the safe side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

CONFIDENCE = 0.95
"""Default confidence level of every interval niah reports."""

RULER_THRESHOLD = 0.856
"""Default absolute threshold: RULER (Hsieh et al. 2024, "RULER: What's the Real
Context Size of Your Long-Context Language Models?") calls a length effective when a
model's score there exceeds Llama-2-7B's score at 4K tokens, 85.6%. RULER's score is
an average over its 13 tasks; a plain needle test is easier, so the number carries
RULER's convention (a fixed bar), not its scale."""

FloatArray = npt.NDArray[np.float64]


def z_value(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile of ``confidence`` (0.95 -> 1.95996...).

    From the standard library's ``NormalDist``, so no scipy is needed.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_intervals(
    found: npt.ArrayLike, asked: npt.ArrayLike, confidence: float = CONFIDENCE
) -> tuple[FloatArray, FloatArray]:
    """Wilson score intervals (low, high) for ``found`` successes of ``asked``, elementwise.

    With p = found / asked, n = asked and z = ``z_value(confidence)``: centre
    (p + z²/2n) / (1 + z²/n), half-width z / (1 + z²/n) · sqrt(p(1 - p)/n + z²/4n²).
    ``found`` may be fractional (an imported judge score). Where ``asked`` is 0 the
    proportion is unknown and both bounds are NaN.
    """
    k = np.asarray(found, dtype=float)
    n = np.asarray(asked, dtype=float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    # At p = 0 (or 1) a bound is exactly 0 (or 1); set it so rounding leaves no dust.
    low = np.where(k <= 0, 0.0, low)
    high = np.where(k >= n, 1.0, high)
    unknown = ~(n > 0)
    return np.where(unknown, np.nan, low), np.where(unknown, np.nan, high)


def wilson_interval(
    found: float, asked: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval of one proportion: 81 of 263 -> (0.2553, 0.3662)."""
    low, high = wilson_intervals(found, asked, confidence)
    return float(low), float(high)


@dataclass(frozen=True)
class Difference:
    """Recall of model a minus recall of model b, with its confidence interval."""

    difference: float
    low: float
    high: float

    @property
    def within_noise(self) -> bool | None:
        """True when the interval holds 0 (no difference shown); None when unknown."""
        if math.isnan(self.low) or math.isnan(self.high):
            return None
        return self.low <= 0 <= self.high


def difference_interval(
    found_a: float, asked_a: float, found_b: float, asked_b: float,
    confidence: float = CONFIDENCE,
) -> Difference:
    """Newcombe's hybrid score interval for p_a - p_b (1998b, method 10).

    With (l, u) each proportion's Wilson interval and d = p_a - p_b:
    low = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2), high = d + sqrt((u_a - p_a)^2 +
    (p_b - l_b)^2). 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339). NaN when either side
    has nothing asked.
    """
    if asked_a <= 0 or asked_b <= 0:
        return Difference(math.nan, math.nan, math.nan)
    p_a, p_b = found_a / asked_a, found_b / asked_b
    low_a, high_a = wilson_interval(found_a, asked_a, confidence)
    low_b, high_b = wilson_interval(found_b, asked_b, confidence)
    d = p_a - p_b
    low = d - math.hypot(p_a - low_a, high_b - p_b)
    high = d + math.hypot(high_a - p_a, p_b - low_b)
    return Difference(d, max(low, -1.0), min(high, 1.0))


@dataclass(frozen=True)
class EffectiveLength:
    """Where recall holds a bar as the context grows, and where it first does not."""

    length: int | None
    """The longest length L such that every tested length up to L holds the bar; None
    when the shortest does not."""
    breaks_at: int | None
    """The first length that falls below the bar or has nothing scored (unknown is not
    success); None when every tested length holds it."""
    bar: float
    """The recall the rule asked for (NaN when it cannot be set)."""


_TOLERANCE = 1e-12
"""Recall computed as 17/20 must hold a bar of 0.85 despite rounding."""


def effective_length(recall_by_length: Mapping[int, float], bar: float) -> EffectiveLength:
    """Scan lengths in ascending order while recall >= ``bar``.

    A NaN recall (nothing scored) stops the scan. A NaN ``bar`` (the relative rule with
    no short-context recall) holds nowhere: no effective length, the break at the
    shortest length.
    """
    items = sorted(recall_by_length.items())
    best: int | None = None
    for length, recall in items:
        if math.isnan(bar) or _unknown(recall) or recall < bar - _TOLERANCE:
            return EffectiveLength(best, int(length), bar)
        best = int(length)
    return EffectiveLength(best, None, bar)


def relative_effective_length(
    recall_by_length: Mapping[int, float], threshold: float = 0.85
) -> EffectiveLength:
    """Relative definition: recall stays >= ``threshold`` x the recall at the shortest
    length (the model against its own short-context self).

    A model that finds nothing at the shortest length (or has nothing scored there)
    has no effective length: the bar is NaN and the break is the shortest length.
    """
    _check_threshold("threshold", threshold)
    items = sorted(recall_by_length.items())
    if not items:
        return EffectiveLength(None, None, math.nan)
    short = items[0][1]
    bar = math.nan if _unknown(short) or short <= 0 else threshold * short
    return effective_length(recall_by_length, bar)


def absolute_effective_length(
    recall_by_length: Mapping[int, float], threshold: float = RULER_THRESHOLD
) -> EffectiveLength:
    """Absolute definition (RULER's convention): recall stays >= ``threshold`` itself,
    the same bar for every model (default ``RULER_THRESHOLD``, 85.6%)."""
    _check_threshold("absolute threshold", threshold)
    if not recall_by_length:
        return EffectiveLength(None, None, threshold)
    return effective_length(recall_by_length, threshold)


def _check_threshold(name: str, threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"{name} must be in (0, 1], not {threshold}")


def _unknown(x: float | None) -> bool:
    return x is None or math.isnan(x)
