"""Recall by needle position within the context: where the lost needles of a
many-needle trial were (the start, the middle, the end), one line per model.

Each asked-for needle of a scored trial is one Bernoulli trial, placed by its token
offset as a percentage of the context; positions are pooled over lengths and depths
into equal bins, with Wilson intervals (``niah.stats``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from niah.analysis import series_labels
from niah.report.heatmap import TITLE_PT, new_figure, recall_line, style_line_axes
from niah.report.scale import display_name_of
from niah.stats import CONFIDENCE, wilson_intervals

MANY_NEEDLES = 10
"""The figure is drawn when some trial asks for at least this many needles."""
BINS = 10
POSITION_COLUMNS = ("model", "position_from", "position_to", "needles", "found", "recall",
                    "recall_low", "recall_high")


def has_many_needles(df: pd.DataFrame) -> bool:
    return bool((df["n_needles"] >= MANY_NEEDLES).any())


def needle_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per asked-for needle of a scored trial: model, length, position (% of
    the context's tokens before it) and whether it was found."""
    scored = df[df["error"].isna() & df["score"].notna()]
    records = [
        {"series": label, "context_length": int(length),
         "position": 100.0 * n["token_offset"] / max(int(tokens), 1),
         "found": bool(n["found"])}
        for label, length, tokens, needles in zip(
            scored["series"], scored["context_length"], scored["context_tokens"],
            scored["needles"], strict=True)
        for n in needles if not n["distractor"] and n["found"] is not None
    ]
    return pd.DataFrame.from_records(
        records, columns=["series", "context_length", "position", "found"])


def position_table(df: pd.DataFrame, confidence: float = CONFIDENCE,
                   bins: int = BINS) -> pd.DataFrame:
    """Recall per model and position bin (``POSITION_COLUMNS``; ``by_position.csv``)."""
    needles = needle_frame(df)
    edges = np.linspace(0.0, 100.0, bins + 1)
    rows = []
    for label in series_labels(df):
        mine = needles[needles["series"] == label]
        at = np.clip(np.searchsorted(edges, mine["position"].to_numpy(), side="right") - 1,
                     0, bins - 1)
        asked = np.bincount(at, minlength=bins).astype(float)
        found = np.bincount(at, weights=mine["found"].to_numpy(dtype=float), minlength=bins)
        low, high = wilson_intervals(found, asked, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(asked > 0, found / asked, np.nan)
        for k in range(bins):
            rows.append({"model": label, "position_from": edges[k], "position_to": edges[k + 1],
                         "needles": int(asked[k]), "found": int(found[k]),
                         "recall": recall[k], "recall_low": low[k], "recall_high": high[k]})
    return pd.DataFrame.from_records(rows, columns=list(POSITION_COLUMNS))


def plot_recall_by_position(df: pd.DataFrame, confidence: float = CONFIDENCE) -> Figure:
    """Recall against the needle's position in the context, one line per model."""
    table = position_table(df, confidence)
    fig = new_figure(7.5, 4.4)
    ax = fig.add_subplot()
    for label in series_labels(df):
        rows = table[(table["model"] == label) & (table["needles"] > 0)]
        x = ((rows["position_from"] + rows["position_to"]) / 2).to_numpy(dtype=float)
        y = rows["recall"].to_numpy(dtype=float)
        recall_line(ax, x, y, rows["recall_low"], rows["recall_high"],
                    display_name_of(df, label))
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Needle position in the context (% of its tokens before the needle)")
    ax.set_ylabel("Recall (fraction of needles found)")
    ax.set_title(f"Recall by needle position (all lengths; bars: {confidence:.0%} intervals)",
                 fontsize=TITLE_PT - 1)
    style_line_axes(ax)
    return fig
