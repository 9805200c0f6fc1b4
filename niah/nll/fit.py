"""The power law of the Gemini 1.5 report: ``L(x) = alpha * x^-beta + gamma``.

Fitted with scipy's ``curve_fit`` to the cumulative average NLL at log-spaced
positions (about ``points`` of them between the first and last position fitted), so
the thousands of long positions do not outvote the few short ones, nor the reverse;
residuals are relative (``sigma = y``), so each decade counts alike on the log-log
figure, whose short positions have the largest values. R² is the usual one, of y.
``gamma`` is the loss that no context removes; ``beta`` says how fast context helps.

The data *leaves the fit* at the first position from which the relative residual
``|data - fit| / fit`` stays beyond ``deviation`` until the last position;
None when the data ends within it. Fitting only up to ``max_position`` shows where a
longer context stops following the law fitted on shorter ones, as the report does.

Intervals (95%) come from resampling the documents (the independent units: the
cumulative curve's points are strongly correlated, so the fit's own covariance is
far too confident) when there are at least ``MIN_BOOTSTRAP_DOCUMENTS``; otherwise
from the covariance, and the result says which.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from niah.errors import MissingDependency

PARAMS = ("alpha", "beta", "gamma")
MIN_BOOTSTRAP_DOCUMENTS = 3


def power_law(x: np.ndarray, alpha: float, beta: float, gamma: float) -> np.ndarray:
    out: np.ndarray = alpha * np.power(x, -beta) + gamma
    return out


def log_positions(x: np.ndarray, first: int, last: int, points: int) -> np.ndarray:
    """Indices into the sorted positions ``x``: about ``points`` log-spaced ones in
    ``[first, last]`` (each the nearest available position, without repeats)."""
    lo, hi = np.searchsorted(x, first), np.searchsorted(x, last, side="right")
    if hi - lo <= points:
        return np.arange(lo, hi)
    wanted = np.geomspace(x[lo], x[hi - 1], points)
    idx = np.clip(np.searchsorted(x, wanted), lo, hi - 1)
    return np.unique(idx)


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float
    beta: float
    gamma: float
    r2: float
    """Of the fit on its log-spaced points."""
    first_position: int
    last_position: int
    """The range fitted."""
    points: int
    deviation: float
    departure: int | None
    """Where the data leaves the fit (see the module docstring); None if it does not."""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """95% interval of each parameter."""
    interval_method: str = "covariance"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return power_law(np.asarray(x, dtype=np.float64), self.alpha, self.beta, self.gamma)

    def label(self) -> str:
        """``α=… β=… γ=…`` with intervals, for legends and tables."""
        parts = []
        for name, symbol in zip(PARAMS, ("α", "β", "γ"), strict=True):
            value = getattr(self, name)
            lo, hi = self.intervals.get(name, (math.nan, math.nan))
            parts.append(f"{symbol}={value:.3g} [{lo:.3g}, {hi:.3g}]")
        return ", ".join(parts)


def _starts(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, float]]:
    """Starting points: for a few floors gamma, a straight line through log(y - gamma)."""
    out = []
    for share in (0.0, 0.5, 0.9, 0.99):
        gamma = share * float(y.min())
        rest = y - gamma
        if np.all(rest > 0):
            slope, intercept = np.polyfit(np.log(x), np.log(rest), 1)
            out.append((float(np.exp(intercept)), float(max(-slope, 1e-3)), gamma))
    return out or [(float(y.max() - y.min()) or 1.0, 0.5, float(y.min()))]


def _scipy() -> None:
    """scipy is the ``nll`` extra: say which install fixes its absence."""
    try:
        import scipy  # noqa: F401
    except ImportError:
        raise MissingDependency("scipy", "nll") from None


def _curve_fit(x: np.ndarray, y: np.ndarray, starts: list[tuple[float, float, float]]
               ) -> tuple[np.ndarray, np.ndarray]:
    _scipy()
    from scipy.optimize import OptimizeWarning, curve_fit

    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for p0 in starts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, pcov = curve_fit(power_law, x, y, p0=p0, sigma=y, maxfev=20000,
                                       bounds=([0.0, 0.0, 0.0], [np.inf, 10.0, np.inf]))
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum(((power_law(x, *popt) - y) / y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, popt, pcov)
    if best is None:
        raise ValueError("the power law could not be fitted to these points")
    return best[1], best[2]


def fit_power_law(
    x: np.ndarray, y: np.ndarray, *, points: int = 60, min_position: int = 2,
    max_position: int | None = None, deviation: float = 0.01,
    resample: Callable[[np.random.Generator], np.ndarray] | None = None,
    bootstrap: int = 0, seed: int = 0,
) -> PowerLawFit:
    """Fit ``y`` (cumulative NLL at sorted positions ``x``).

    ``resample(rng)`` returns the curve ``y`` recomputed on resampled documents (same
    ``x``); with ``bootstrap`` > 0 it gives the intervals.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    last = int(x[-1]) if max_position is None else min(max_position, int(x[-1]))
    idx = log_positions(x, min_position, last, points)
    if len(idx) < 4:
        raise ValueError(f"too few positions to fit ({len(idx)} in {min_position}..{last})")
    xs, ys = x[idx], y[idx]
    popt, pcov = _curve_fit(xs, ys, _starts(xs, ys))
    fitted = power_law(xs, *popt)
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ys - fitted) ** 2)) / total if total > 0 else 1.0
    intervals, method = _covariance_intervals(popt, pcov, len(xs)), "covariance"
    if resample is not None and bootstrap > 0:
        boot = _bootstrap(resample, idx, x, popt, bootstrap, seed)
        if boot is not None:
            intervals, method = boot, f"bootstrap over documents ({bootstrap})"
    return PowerLawFit(
        alpha=float(popt[0]), beta=float(popt[1]), gamma=float(popt[2]), r2=r2,
        first_position=int(xs[0]), last_position=int(xs[-1]), points=len(xs),
        deviation=deviation, departure=departure(x, y, popt, min_position, deviation),
        intervals=intervals, interval_method=method,
    )


def _covariance_intervals(popt: np.ndarray, pcov: np.ndarray, n: int
                          ) -> dict[str, tuple[float, float]]:
    from scipy.stats import t

    dof = max(n - len(popt), 1)
    quantile = float(t.ppf(0.975, dof))
    errors = np.sqrt(np.clip(np.diag(pcov), 0, None))
    return {name: (float(p - quantile * e), float(p + quantile * e))
            for name, p, e in zip(PARAMS, popt, errors, strict=True)}


def _bootstrap(resample: Callable[[np.random.Generator], np.ndarray], idx: np.ndarray,
               x: np.ndarray, popt: np.ndarray, n: int, seed: int
               ) -> dict[str, tuple[float, float]] | None:
    rng = np.random.default_rng(seed)
    found = []
    start = (float(popt[0]), float(popt[1]), float(popt[2]))
    for _ in range(n):
        y = resample(rng)
        try:
            found.append(_curve_fit(x[idx], y[idx], [start])[0])
        except ValueError:
            continue
    if len(found) < n / 2:
        return None
    values = np.array(found)
    lo, hi = np.percentile(values, [2.5, 97.5], axis=0)
    return {name: (float(a), float(b)) for name, a, b in zip(PARAMS, lo, hi, strict=True)}


def departure(x: np.ndarray, y: np.ndarray, popt: np.ndarray, min_position: int,
              deviation: float) -> int | None:
    """First position from which ``|y - fit| / fit > deviation`` holds to the end."""
    start = int(np.searchsorted(x, min_position))
    fit = power_law(x[start:], *popt)
    beyond = np.abs(y[start:] - fit) > deviation * np.abs(fit)
    if not len(beyond) or not beyond[-1]:
        return None
    inside = np.nonzero(~beyond)[0]
    first = inside[-1] + 1 if len(inside) else 0
    return int(x[start + first])
