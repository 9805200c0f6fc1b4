"""Reports from result files: heatmaps, comparisons, multi-needle curves, HTML.

Nothing here calls a model; see ``niah.report.build.build_report`` for ``niah report``.
"""

from __future__ import annotations

from niah.report.build import Report, build_report
from niah.report.compare import plot_comparison
from niah.report.heatmap import plot_heatmap, plot_multi_needle
from niah.report.html import render_html

__all__ = [
    "Report",
    "build_report",
    "plot_comparison",
    "plot_heatmap",
    "plot_multi_needle",
    "render_html",
]
