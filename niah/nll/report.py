"""The NLL-by-position figure of the Gemini 1.5 report, from NLL run directories only.

Writes into the output folder:

- ``nll.<fmt>``: one panel per corpus, log-log axes: the cumulative average NLL of
  each model against token position (solid), its fitted power law (dashed over the
  range fitted, dotted beyond), and where the data leaves the fit (a marker);
- ``nll_compare.<fmt>``: every curve on one axes (corpora and models side by side),
  when there is more than one;
- ``nll_fit.csv``: per curve the fit's parameters with their 95% intervals, R², the
  range fitted, the departure position and threshold, documents and tokens;
- ``nll_curve.csv``: per curve, at log-spaced positions, the mean and cumulative NLL,
  the fitted value and how many windows reach the position.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from niah.atomic import write_text
from niah.nll.curve import Series, load_series
from niah.nll.fit import PARAMS, log_positions

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CURVE_POINTS = 200
"""Positions per curve in ``nll_curve.csv`` (log-spaced)."""
DPI = 120
"""Figures of line plots stay sharp at 120 dpi, and committed examples stay small."""


@dataclass
class NllReport:
    out_dir: Path
    series: list[Series]
    files: list[Path]


def build_nll_report(run_dirs: list[str | Path], out: str | Path | None = None,
                     formats: tuple[str, ...] = ("png",), title: str | None = None
                     ) -> NllReport:
    """Load, fit, draw and write; returns what was written."""
    from niah.report.write import save_figure

    series = load_series(run_dirs)
    out_dir = Path(out) if out is not None else Path(run_dirs[0]) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    heading = title or "Cumulative average NLL by token position"
    files: list[Path] = []
    figures = {"nll": panels_figure(series, heading)}
    if len(series) > 1:
        figures["nll_compare"] = compare_figure(series, heading)
    for name, fig in figures.items():
        for fmt in formats:
            files.append(save_figure(fig, out_dir / f"{name}.{fmt}", fmt, dpi=DPI))
    files.append(write_text(out_dir / "nll_fit.csv", fit_csv(series)))
    files.append(write_text(out_dir / "nll_curve.csv", curve_csv(series)))
    return NllReport(out_dir, series, files)


def _human(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    return f"{n / 1000:.3g}K" if n >= 1000 else f"{n:.0f}"


def _draw(ax: Axes, s: Series, color: str, label: str) -> None:
    ax.plot(s.positions, s.cumulative, color=color, lw=1.8, label=label)
    fit = s.fit
    if fit is None:
        return
    xs = np.geomspace(fit.first_position, fit.last_position, 200)
    ax.plot(xs, fit(xs), color=color, lw=1.2, ls="--", alpha=0.9)
    if fit.last_position < s.positions[-1]:
        beyond = np.geomspace(fit.last_position, s.positions[-1], 100)
        ax.plot(beyond, fit(beyond), color=color, lw=1.0, ls=":", alpha=0.9)
    if fit.departure is not None:
        at = int(np.searchsorted(s.positions, fit.departure))
        ax.plot([fit.departure], [s.cumulative[min(at, len(s.cumulative) - 1)]], marker="o",
                ms=7, mfc="none", mec=color, mew=1.5)


def _fit_text(s: Series) -> str:
    if s.fit is None:
        return f"fit failed: {s.fit_error}"
    f = s.fit
    leaves = (f"leaves the fit (±{f.deviation:.0%}) at {_human(f.departure)}"
              if f.departure is not None
              else f"within ±{f.deviation:.0%} of the fit to {_human(s.positions[-1])}")
    return f"{f.label()}\nR²={f.r2:.4f}, {leaves}"


def _style(ax: Axes, title: str) -> None:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("Sequence position (tokens)")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def panels_figure(series: list[Series], heading: str) -> Figure:
    from matplotlib.figure import Figure

    corpora = list(dict.fromkeys(s.corpus for s in series))
    models = list(dict.fromkeys(s.label for s in series))
    colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
    cols = min(len(corpora), 3)
    rows = math.ceil(len(corpora) / cols)
    fig = Figure(figsize=(5.6 * cols, 4.6 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, corpus in enumerate(corpora):
        ax = axes[i // cols][i % cols]
        members = [s for s in series if s.corpus == corpus]
        for s in members:
            _draw(ax, s, colors[s.label], f"{s.label}: {_fit_text(s)}")
        docs = sum(len(s.documents) for s in members)
        tokens = sum(s.tokens for s in members)
        _style(ax, f"{corpus} ({docs} document{'' if docs == 1 else 's'}, "
                   f"{_human(tokens)} tokens)")
        if i % cols == 0:
            ax.set_ylabel("Cumulative average NLL (nats)")
        ax.plot([], [], color="gray", ls="--", label="power law fit α·x^(−β) + γ")
        ax.legend(fontsize=7, loc="upper right")
    for j in range(len(corpora), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    fig.suptitle(heading, fontsize=12)
    return fig


def compare_figure(series: list[Series], heading: str) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.subplots()
    for i, s in enumerate(series):
        beta = f" (β={s.fit.beta:.3f})" if s.fit is not None else ""
        _draw(ax, s, f"C{i % 10}", f"{s.label} · {s.corpus}{beta}")
    _style(ax, heading)
    ax.set_ylabel("Cumulative average NLL (nats)")
    ax.plot([], [], color="gray", ls="--", label="power law fits")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _g(value: float | None, digits: int = 6) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def fit_csv(series: list[Series]) -> str:
    header = ["model", "corpus", "run", "documents", "tokens", "window"]
    for p in PARAMS:
        header += [p, f"{p}_lo", f"{p}_hi"]
    header += ["interval_method", "r2", "fit_from", "fit_to", "fit_points", "deviation",
               "departure", "last_position", "final_cumulative_nll", "fit_error"]
    rows: list[list[object]] = []
    for s in series:
        row: list[object] = [s.model, s.corpus, s.run_dir.name, len(s.documents), s.tokens,
                             s.window]
        f = s.fit
        for p in PARAMS:
            lo, hi = f.intervals.get(p, (math.nan, math.nan)) if f else (math.nan, math.nan)
            row += [_g(getattr(f, p)) if f else "", _g(lo), _g(hi)]
        row += [f.interval_method if f else "", _g(f.r2) if f else "",
                f.first_position if f else "", f.last_position if f else "",
                f.points if f else "", f.deviation if f else "",
                f.departure if f and f.departure is not None else "",
                int(s.positions[-1]), _g(float(s.cumulative[-1])), s.fit_error or ""]
        rows.append(row)
    return _csv(header, rows)


def curve_csv(series: list[Series]) -> str:
    header = ["model", "corpus", "run", "position", "mean_nll", "cumulative_nll", "fit",
              "windows"]
    rows: list[list[object]] = []
    for s in series:
        idx = log_positions(s.positions.astype(np.float64), 1, int(s.positions[-1]),
                            CURVE_POINTS)
        for i in idx:
            x = int(s.positions[i])
            fitted = float(s.fit(np.array([x]))[0]) if s.fit else None
            rows.append([s.model, s.corpus, s.run_dir.name, x, _g(float(s.mean[i])),
                         _g(float(s.cumulative[i])), _g(fitted), int(s.count[i])])
    return _csv(header, rows)
