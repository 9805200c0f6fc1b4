"""Tidy tables over every model of a results frame: what ``niah report`` writes as
``cells.csv``, ``by_length.csv``, ``by_depth.csv`` and ``comparison.csv``.

One row per observation, one column per variable, so each file loads straight into
pandas, R or a spreadsheet and every interval can be recomputed from its ``needles``
and ``found`` columns. The per-model tables come from ``niah.analysis`` (the heatmap
is a pivot of ``cell_table``); the interval maths is in ``niah.stats``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from niah.analysis import cell_table, recall_table, series_labels
from niah.stats import CONFIDENCE, difference_interval

COMPARISON_COLUMNS = (
    "model_a", "model_b", "needles_a", "found_a", "recall_a", "needles_b", "found_b",
    "recall_b", "difference", "difference_low", "difference_high", "within_noise",
)
"""Columns of ``compare_models`` after ``by`` (which follows ``model_b``)."""


def cells_frame(df: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """``cell_table`` of every model, one after another (``cells.csv``): the numbers
    each model's heatmap is drawn from, cells not run included with 0 trials."""
    return pd.concat([cell_table(df, label, confidence=confidence)
                      for label in series_labels(df)], ignore_index=True)


def recall_frame(df: pd.DataFrame, by: str, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """``recall_table`` of every model with a ``model`` column: recall by
    ``context_length`` (``by_length.csv``) or ``requested_depth`` (``by_depth.csv``)."""
    frames = []
    for label in series_labels(df):
        table = recall_table(df, label, by, confidence).reset_index()
        table.insert(0, "model", label)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def compare_models(
    df: pd.DataFrame,
    by: str = "context_length",
    confidence: float = CONFIDENCE,
    models: list[str] | None = None,
) -> pd.DataFrame:
    """Every pair of models, at each value of ``by`` either was run at: their recalls,
    the difference a - b with its Newcombe interval, and whether it is within noise.

    ``within_noise`` is True when the interval holds 0 (the test cannot tell the two
    apart there), False when it does not (the sign of ``difference`` says who is
    ahead), and missing when a side has nothing scored at that value. The interval
    treats the two models' needles as independent samples (``niah.stats``). Pairs
    follow the order of ``models`` (default: the series in order of appearance).
    """
    labels = models if models is not None else series_labels(df)
    tables = {label: recall_table(df, label, by, confidence) for label in labels}
    records: list[dict[str, Any]] = []
    for a, b in combinations(labels, 2):
        ta, tb = tables[a], tables[b]
        for value in sorted(set(ta.index) | set(tb.index)):
            needles_a, found_a = _counts(ta, value)
            needles_b, found_b = _counts(tb, value)
            diff = difference_interval(found_a, needles_a, found_b, needles_b, confidence)
            records.append({
                "model_a": a, "model_b": b, by: value,
                "needles_a": needles_a, "found_a": found_a,
                "recall_a": found_a / needles_a if needles_a else float("nan"),
                "needles_b": needles_b, "found_b": found_b,
                "recall_b": found_b / needles_b if needles_b else float("nan"),
                "difference": diff.difference, "difference_low": diff.low,
                "difference_high": diff.high, "within_noise": diff.within_noise,
            })
    columns = [*COMPARISON_COLUMNS[:2], by, *COMPARISON_COLUMNS[2:]]
    out = pd.DataFrame.from_records(records, columns=columns)
    out["within_noise"] = pd.array(out["within_noise"].tolist(), dtype="boolean")
    return out


def _counts(table: pd.DataFrame, value: Any) -> tuple[int, float]:
    """(needles asked, found) at ``value`` of a ``recall_table``; (0, 0) when not run."""
    if value not in table.index:
        return 0, 0.0
    return int(table.at[value, "needles"]), float(table.at[value, "found"])
