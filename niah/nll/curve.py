"""Curves from stored arrays: mean NLL per position, and its cumulative average.

For each (model, corpus) the documents' per-token NLL is summed by position inside
the window (``j % window + 1``) and counted. The mean at a position averages every
window that reaches it; the cumulative average at ``x`` is the mean of those means
over positions ``<= x`` that have a value (a window's first position never does),
which is the average of the documents' own cumulative curves when they all reach
``x``. Keeping per-document sums lets the fit resample documents for its intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from niah.errors import UserError
from niah.nll.config import FitSpec
from niah.nll.fit import PowerLawFit, fit_power_law
from niah.nll.results import latest_rows, load_nll, read_nll_manifest, read_rows


def position_sums(nll: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum of NLL, number of tokens) at each window position 1..window (index 0..)."""
    position = np.arange(len(nll)) % window
    ok = ~np.isnan(nll)
    sums = np.bincount(position[ok], weights=nll[ok], minlength=window)
    counts = np.bincount(position[ok], minlength=window)
    return sums[:window], counts[:window]


def cumulative(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """(positions with data, mean NLL there, cumulative average NLL up to each)."""
    have = counts > 0
    positions = np.nonzero(have)[0] + 1
    mean = sums[have] / counts[have]
    return positions, mean, np.cumsum(mean) / np.arange(1, len(mean) + 1)


@dataclass
class Series:
    """One curve: a model on a corpus, from one run directory."""

    model: str
    corpus: str
    run_dir: Path
    window: int
    documents: list[str]
    sums: np.ndarray
    """documents x window: NLL summed by position."""
    counts: np.ndarray
    tokens: int
    fit_spec: FitSpec
    label: str = ""
    fit: PowerLawFit | None = None
    fit_error: str | None = None
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cumulative: np.ndarray = field(default_factory=lambda: np.zeros(0))
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def compute(self) -> None:
        """The curve, then its fit (a fit that fails is kept as ``fit_error``)."""
        total, counts = self.sums.sum(axis=0), self.counts.sum(axis=0)
        self.positions, self.mean, self.cumulative = cumulative(total, counts)
        self.count = counts[self.positions - 1]
        spec = self.fit_spec
        try:
            self.fit = fit_power_law(
                self.positions, self.cumulative, points=spec.points,
                min_position=spec.min_position, max_position=spec.max_position,
                deviation=spec.deviation, resample=self._resampler(),
                bootstrap=spec.bootstrap if len(self.documents) >= 3 else 0, seed=spec.seed,
            )
        except ValueError as exc:
            self.fit_error = str(exc)

    def _resampler(self) -> Callable[[np.random.Generator], np.ndarray]:
        def resample(rng: np.random.Generator) -> np.ndarray:
            pick = rng.integers(0, len(self.documents), len(self.documents))
            total, counts = self.sums[pick].sum(axis=0), self.counts[pick].sum(axis=0)
            # the same positions as the full curve: a position a resample lacks keeps
            # the full curve's mean (only windows shorter than others can lack one)
            mean = self.mean.copy()
            at = self.positions - 1
            have = counts[at] > 0
            mean[have] = total[at][have] / counts[at][have]
            return np.cumsum(mean) / np.arange(1, len(mean) + 1)

        return resample


def load_series(run_dirs: list[str | Path]) -> list[Series]:
    """Every (model, corpus) curve of the NLL run directories, computed and fitted."""
    series: list[Series] = []
    for run_dir in map(Path, run_dirs):
        manifest = read_nll_manifest(run_dir)
        if manifest is None:
            raise UserError(f"{run_dir}: no manifest.json (not a niah run directory)")
        fit_spec = FitSpec.model_validate(manifest.config.get("fit") or {})
        groups: dict[tuple[str, str], list[tuple[str, np.ndarray, int]]] = {}
        for row in latest_rows(read_rows(run_dir)):
            if row.error is None:
                groups.setdefault((row.model, row.corpus), []).append(
                    (row.document, load_nll(run_dir, row), row.window))
        for (model, corpus), docs in groups.items():
            window = max(w for _, _, w in docs)
            pairs = [position_sums(nll, window) for _, nll, _ in docs]
            series.append(Series(
                model=model, corpus=corpus, run_dir=run_dir, window=window,
                documents=[name for name, _, _ in docs],
                sums=np.stack([s for s, _ in pairs]), counts=np.stack([c for _, c in pairs]),
                tokens=sum(len(nll) for _, nll, _ in docs), fit_spec=fit_spec,
            ))
    if not series:
        raise UserError(f"{', '.join(map(str, run_dirs))}: no scored documents yet")
    _label(series)
    for s in series:
        s.compute()
    return series


def _label(series: list[Series]) -> None:
    """``model`` (provider dropped when unambiguous); the run directory when repeated."""
    for s in series:
        s.label = s.model.split("/", 1)[1] if "/" in s.model else s.model
    seen: dict[tuple[str, str], int] = {}
    for s in series:
        seen[(s.model, s.corpus)] = seen.get((s.model, s.corpus), 0) + 1
    for s in series:
        if seen[(s.model, s.corpus)] > 1:
            s.label = f"{s.label} ({s.run_dir.name})"
