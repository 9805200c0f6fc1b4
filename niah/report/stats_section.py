"""The report's statistics as HTML: effective context length under both definitions,
recall with confidence intervals, and which differences between models are noise.

Built from the same tables ``niah report`` writes as CSV (``summarize``,
``recall_frame``, ``compare_models``), so the page and the files say the same thing.
Every string from the results (model ids) is escaped with ``niah.report.html.esc``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from niah.fmt import tokens
from niah.report.heatmap import depth_labels
from niah.report.html import esc
from niah.report.scale import display_name


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _pct(x: Any) -> str:
    return "–" if _missing(x) else f"{float(x):.1%}"


def _length(x: Any) -> str:
    return "–" if _missing(x) else esc(tokens(int(x)))


def _interval(low: Any, high: Any) -> str:
    return "" if _missing(low) else f"{float(low):.1%}–{float(high):.1%}"


def _signed_interval(rec: dict[str, Any]) -> str:
    low, high = rec["difference_low"], rec["difference_high"]
    return "" if _missing(low) else f"{float(low):+.1%} to {float(high):+.1%}"


def _breaks(x: Any) -> str:
    return "none" if _missing(x) else _length(x)


def effective_section(summary: pd.DataFrame) -> str:
    """Both effective context lengths per model, with the bar each one applied."""
    first = summary.iloc[0]
    relative, absolute = float(first["threshold"]), float(first["absolute_threshold"])
    head = (
        "<tr><th rowspan=\"2\">Model</th>"
        f"<th colspan=\"3\">Relative (≥ {relative:.0%} of short-context recall)</th>"
        f"<th colspan=\"2\">Absolute (≥ {absolute:.1%})</th><th rowspan=\"2\">Longest "
        "tested</th></tr><tr><th>Effective</th><th>Breaks at</th><th>Bar</th>"
        "<th>Effective</th><th>Breaks at</th></tr>"
    )
    rows = []
    for rec in summary.to_dict("records"):
        rows.append(
            "<tr>"
            f"<td>{esc(display_name(str(rec['model'])))}</td>"
            f'<td class="num">{_length(rec["effective_context_length"])}</td>'
            f'<td class="num">{_breaks(rec["relative_breaks_at"])}</td>'
            f'<td class="num">{_pct(rec["relative_bar"])}</td>'
            f'<td class="num">{_length(rec["absolute_effective_context_length"])}</td>'
            f'<td class="num">{_breaks(rec["absolute_breaks_at"])}</td>'
            f'<td class="num">{_length(rec["max_context_length"])}</td>'
            "</tr>"
        )
    note = (
        '<p class="note"><b>Relative</b>: the longest length L such that every tested '
        f"length up to L keeps recall ≥ {relative:.0%} of the model's own recall at its "
        "shortest length (the bar); it measures how well a model keeps its short-context "
        "recall, so a model weak everywhere can still hold it. <b>Absolute</b>: the "
        f"longest L such that every length up to L keeps recall ≥ {absolute:.1%}, the "
        "same bar for every model: RULER's convention (Hsieh et al. 2024), whose bar of "
        "85.6% is Llama-2-7B's RULER score at 4K (the default here). <b>Breaks at</b>: "
        "the first length that falls below the bar, or where nothing was scored; none "
        "means every tested length holds it. Both read the recall point estimates; the "
        "intervals below show whether a break is within noise.</p>"
    )
    return ("<h2>Effective context length</h2>"
            f'<div class="wide"><table>{head}{"".join(rows)}</table></div>{note}')


def _recall_cell(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return '<td class="num"></td>'
    if not rec["needles"]:
        return '<td class="num">–</td>'
    found = float(rec["found"])
    count = f"{found:g} of {int(rec['needles']):,} needles"
    interval = _interval(rec["recall_low"], rec["recall_high"])
    return (f'<td class="num" title="{esc(count)}">{_pct(rec["recall"])} '
            f'<span class="note">({interval})</span></td>')


def recall_section(frame: pd.DataFrame, by: str, confidence: float) -> str:
    """One row per length (or depth), one column per model: recall (low–high)."""
    models = list(dict.fromkeys(frame["model"]))
    values = sorted(set(frame[by]))
    labels = ([tokens(int(v)) for v in values] if by == "context_length"
              else depth_labels([float(v) for v in values]))
    cells = {(r["model"], r[by]): r for r in frame.to_dict("records")}
    name = "Length" if by == "context_length" else "Depth"
    names = "".join(f"<th>{esc(display_name(m))}</th>" for m in models)
    head = f"<tr><th>{name}</th>{names}</tr>"
    rows = [
        f"<tr><th>{esc(label)}</th>"
        + "".join(_recall_cell(cells.get((m, v))) for m in models) + "</tr>"
        for v, label in zip(values, labels, strict=True)
    ]
    what = "context length" if by == "context_length" else "depth"
    return (f"<h3>Recall by {what}, with {confidence:.0%} intervals</h3>"
            f'<div class="wide"><table>{head}{"".join(rows)}</table></div>')


def intervals_section(by_length: pd.DataFrame, by_depth: pd.DataFrame,
                      confidence: float) -> str:
    """Recall by length and by depth per model, each with its Wilson interval."""
    note = (
        '<p class="note">Recall is needles found / needles asked over the scored '
        "trials, each needle counted as one Bernoulli trial (for single-needle runs: "
        f"trials found / trials scored); in brackets its {confidence:.0%} Wilson score "
        "interval. Needles placed in one trial share a context and a reply, so with "
        "several needles per trial the intervals are somewhat too narrow. An imported "
        "judge score counts as that fraction of a needle.</p>"
    )
    return (f"<h2>Recall with {confidence:.0%} intervals</h2>{note}"
            f"{recall_section(by_length, 'context_length', confidence)}"
            f"{recall_section(by_depth, 'requested_depth', confidence)}")


def _verdict(rec: dict[str, Any]) -> str:
    noise = rec["within_noise"]
    if _missing(noise):
        return '<span class="note">not comparable</span>'
    if noise:
        return "within noise"
    ahead = rec["model_a"] if rec["difference"] > 0 else rec["model_b"]
    return f"<b>{esc(display_name(ahead))}</b> higher"


def comparison_section(comparison: pd.DataFrame, confidence: float) -> str:
    """Per pair of models and length: both recalls, a - b with its interval, a verdict."""
    if comparison.empty:
        return ""
    parts = [f"<h2>Differences between models ({confidence:.0%})</h2>"]
    for (a, b), pair in comparison.groupby(["model_a", "model_b"], sort=False):
        head = (f"<tr><th>Length</th><th>{esc(display_name(a))}</th><th>{esc(display_name(b))}</th>"
                "<th>Difference (left − right)</th><th>Interval</th><th>Verdict</th></tr>")
        rows = []
        for rec in pair.to_dict("records"):
            diff = rec["difference"]
            rows.append(
                "<tr>"
                f'<td class="num">{_length(rec["context_length"])}</td>'
                f'<td class="num">{_pct(rec["recall_a"])}</td>'
                f'<td class="num">{_pct(rec["recall_b"])}</td>'
                f'<td class="num">{"–" if _missing(diff) else f"{diff:+.1%}"}</td>'
                f'<td class="num">{_signed_interval(rec)}</td>'
                f"<td>{_verdict(rec)}</td>"
                "</tr>"
            )
        parts.append(f"<h3>{esc(display_name(a))} vs {esc(display_name(b))}</h3>"
                     f'<div class="wide"><table>{head}{"".join(rows)}</table></div>')
    parts.append(
        '<p class="note">A difference is within noise when its interval holds 0: '
        "Newcombe's score interval for a difference of two proportions (1998, method "
        "10), built from the two Wilson intervals. Overlapping error bars are not the "
        "test: two intervals can overlap while the difference is clear. The models are "
        "treated as independent samples, which errs on the wide side when they tend to find "
        "the same needles.</p>"
    )
    return "".join(parts)


def stats_section(summary: pd.DataFrame, by_length: pd.DataFrame, by_depth: pd.DataFrame,
                  comparison: pd.DataFrame | None) -> str:
    """All of the above, in the order the page shows them (comparison: 2+ models)."""
    if summary.empty:
        return ""
    confidence = float(summary.iloc[0]["confidence"])
    parts = [effective_section(summary), intervals_section(by_length, by_depth, confidence)]
    if comparison is not None:
        parts.append(comparison_section(comparison, confidence))
    return "".join(parts)
