"""The power-law fit: known parameters come back, departures are found where they are."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy", reason="the fit needs scipy: pip install 'niah[nll]'")

from niah.nll.fit import fit_power_law, log_positions, power_law


@pytest.mark.parametrize(("alpha", "beta", "gamma"), [
    (8.0, 0.5, 1.5),
    (3.0, 0.3, 0.8),
    (20.0, 0.9, 2.2),
])
def test_the_fit_recovers_known_parameters_from_a_noisy_power_law(
    alpha: float, beta: float, gamma: float
) -> None:
    rng = np.random.default_rng(7)
    x = np.arange(1, 200_001, dtype=np.float64)
    clean = power_law(x, alpha, beta, gamma)
    y = clean * (1 + rng.normal(0, 0.003, x.size))  # 0.3% noise on every point
    fit = fit_power_law(x, y, points=60, min_position=1)
    for name, true in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        assert getattr(fit, name) == pytest.approx(true, rel=0.05), name
        lo, hi = fit.intervals[name]
        assert lo < getattr(fit, name) < hi
    assert fit.r2 > 0.999
    assert fit.departure is None  # the data never leaves its own law
    assert fit.interval_method == "covariance"


def test_log_spaced_positions_cover_each_decade_alike() -> None:
    x = np.arange(1, 100_001, dtype=np.float64)
    idx = log_positions(x, 1, 100_000, 50)
    chosen = x[idx]
    assert chosen[0] == 1 and chosen[-1] == 100_000
    assert np.all(np.diff(chosen) > 0)
    per_decade = np.histogram(np.log10(chosen), bins=[0, 1, 2, 3, 4, 5.01])[0]
    # a uniform sample would put 90% of its points in the last decade
    assert per_decade.max() - per_decade.min() <= 4, per_decade
    assert len(log_positions(x, 10, 20, 50)) == 11  # fewer positions than points: all


def test_where_the_data_leaves_a_law_fitted_on_shorter_positions() -> None:
    """As in the report: a law fitted up to 10K; beyond it the data falls below."""
    x = np.arange(1, 1_000_001, dtype=np.float64)
    y = power_law(x, 6.0, 0.4, 1.0)
    y = np.where(x > 20_000, y * (1 - 0.05 * np.log10(x / 20_000)), y)
    fit = fit_power_law(x, y, points=80, min_position=1, max_position=10_000, deviation=0.01)
    assert fit.last_position == 10_000
    assert fit.beta == pytest.approx(0.4, rel=1e-3)
    # 5% per decade below from 20K: 1% is passed at 20K x 10^0.2 = 31.7K
    assert fit.departure == pytest.approx(31_698, abs=2)


def test_an_excursion_that_comes_back_is_not_a_departure() -> None:
    x = np.arange(1, 100_001, dtype=np.float64)
    y = power_law(x, 6.0, 0.4, 1.0)
    y[(x > 100) & (x < 300)] *= 1.05
    fit = fit_power_law(x, y, points=60, min_position=1, max_position=100)
    assert fit.departure is None


def test_bootstrap_intervals_come_from_the_resamples() -> None:
    x = np.arange(1, 5001, dtype=np.float64)
    y = power_law(x, 6.0, 0.4, 1.0)
    spread = np.random.default_rng(0)

    def resample(rng: np.random.Generator) -> np.ndarray:
        return y * (1 + spread.normal(0, 0.02))  # each resample shifts the whole curve

    fit = fit_power_law(x, y, resample=resample, bootstrap=50, seed=1)
    assert fit.interval_method == "bootstrap over documents (50)"
    lo, hi = fit.intervals["gamma"]
    assert lo < 1.0 < hi
    assert hi - lo > 0.01  # covariance on an exact curve would give ~0


def test_too_few_positions_cannot_be_fitted() -> None:
    with pytest.raises(ValueError, match="too few positions"):
        fit_power_law(np.array([2.0, 3.0, 4.0]), np.array([5.0, 4.0, 3.5]))
