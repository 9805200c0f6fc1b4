"""Results files -> one pandas DataFrame -> grids and summaries.

Only reads ``results.jsonl`` files (through ``niah.results``, the one reader), so every
number in a report can be recomputed without a model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from niah.errors import UserError
from niah.results import ResultRow, read_rows, results_file

GridValue = Literal["score", "errors", "trials"]


class ResultsWarning(UserWarning):
    """Something in the results deserves a word (e.g. a trial stored twice)."""


def _flatten(row: ResultRow, run_dir: str) -> dict[str, Any]:
    error = row.error
    return {
        "run_dir": run_dir,
        "experiment": row.experiment,
        "model": row.model,
        "trial_id": row.trial_id,
        "context_length": row.context_length,
        "context_tokens": row.context_tokens,
        "prompt_tokens": row.prompt_tokens,
        "prompt_tokens_reported": row.prompt_tokens_reported,
        "requested_depth": row.requested_depth,
        "actual_depth": row.actual_depth,
        "repeat": row.repeat,
        "n_needles": sum(1 for n in row.needles if not n.distractor),
        "needles_found": sum(1 for n in row.needles if n.found and not n.distractor),
        "distractors_repeated": sum(1 for n in row.needles if n.found and n.distractor),
        "needles": [n.model_dump() for n in row.needles],
        "response": row.response,
        "score": row.score,
        "error": f"{error.kind}: {error.message}" if error else None,
        "error_kind": error.kind if error else None,
        "error_message": error.message if error else None,
        "error_status": error.status if error else None,
        "latency_s": row.latency_s,
        "usage_prompt_tokens": row.usage.prompt_tokens,
        "usage_completion_tokens": row.usage.completion_tokens,
        "usage_cached_tokens": row.usage.cached_tokens,
        "cost_usd": row.cost_usd,
        "finish_reason": row.finish_reason,
        "attempts": row.attempts,
        "cached": row.cached,
        "seed": row.seed,
        "prompt_sha256": row.prompt_sha256,
        "niah_version": row.niah_version,
        "timestamp": row.timestamp,
        "schema_version": row.schema_version,
        "extra": row.extra,
    }


COLUMNS = (
    "run_dir", "experiment", "model", "trial_id", "context_length", "context_tokens",
    "prompt_tokens", "prompt_tokens_reported", "requested_depth", "actual_depth",
    "repeat", "n_needles", "needles_found", "distractors_repeated", "needles", "response",
    "score", "error",
    "error_kind", "error_message", "error_status", "latency_s", "usage_prompt_tokens",
    "usage_completion_tokens", "usage_cached_tokens", "cost_usd", "finish_reason",
    "attempts", "cached", "seed", "prompt_sha256", "niah_version", "timestamp",
    "schema_version", "extra", "series",
)
"""Column order of ``load_results`` (``series`` is the label a model is drawn under)."""

_FLOAT_COLUMNS = ("requested_depth", "actual_depth", "score", "latency_s", "cost_usd")


def rows_frame(rows: list[ResultRow], run_dir: str = "") -> pd.DataFrame:
    """Rows -> the flattened frame ``load_results`` returns (for rows built in memory)."""
    df = pd.DataFrame([_flatten(r, run_dir) for r in rows], columns=list(COLUMNS[:-1]))
    for column in _FLOAT_COLUMNS:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    df["series"] = df["model"].astype(object)
    return df


def load_results(*run_dirs: str | Path) -> pd.DataFrame:
    """Load one or more run directories into one DataFrame, one row per trial result.

    A trial stored twice in one run (same model and trial_id) keeps its last row.
    ``series`` is the model id, or ``model (run dir name)`` when one model appears in
    several of the given runs, so their grids are kept apart.
    """
    if not run_dirs:
        raise UserError("load_results: give at least one run directory")
    frames: list[pd.DataFrame] = []
    for run_dir in run_dirs:
        path = results_file(run_dir)
        rows = read_rows(path)
        frame = rows_frame(rows, str(Path(run_dir)))
        before = len(frame)
        frame = frame.drop_duplicates(subset=["model", "trial_id"], keep="last")
        if len(frame) < before:
            warnings.warn(
                f"{path}: {before - len(frame)} trial(s) stored twice; kept the last row of each",
                ResultsWarning,
                stacklevel=2,
            )
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    runs_per_model = df.groupby("model")["run_dir"].nunique()
    shared = set(runs_per_model[runs_per_model > 1].index)
    if shared:
        df["series"] = [
            f"{m} ({Path(r).name or r})" if m in shared else m
            for m, r in zip(df["model"], df["run_dir"], strict=True)
        ]
    return df.reset_index(drop=True)


def series_labels(df: pd.DataFrame) -> list[str]:
    """The models (series labels) of a results frame, in order of appearance."""
    return list(dict.fromkeys(_labels(df)))


def _labels(df: pd.DataFrame) -> pd.Series:
    return df["series"] if "series" in df.columns else df["model"]


def select(df: pd.DataFrame, model: str | None = None) -> tuple[str, pd.DataFrame]:
    """The rows of one model (series label or model id); ``None`` means the only one."""
    labels = series_labels(df)
    if model is None:
        if len(labels) != 1:
            raise UserError(f"results hold {len(labels)} models; name one of: {', '.join(labels)}")
        model = labels[0]
    sub = df[_labels(df) == model]
    if sub.empty:
        sub = df[df["model"] == model]
    if sub.empty:
        raise UserError(f"no results for model {model!r}; models: {', '.join(labels)}")
    return model, sub


def _is_error(df: pd.DataFrame) -> pd.Series:
    return df["error"].notna()


def _is_scored(df: pd.DataFrame) -> pd.Series:
    return df["error"].isna() & df["score"].notna()


def grid(
    df: pd.DataFrame,
    model: str | None = None,
    value: GridValue = "score",
    *,
    lengths: list[int] | None = None,
    depths: list[float] | None = None,
) -> pd.DataFrame:
    """One model's grid: index ``requested_depth`` (ascending), columns ``context_length``.

    ``value="score"``: mean score of the trials that got an answer (NaN where none did);
    ``"errors"``: trials that failed with an API error; ``"trials"``: all trials.
    ``lengths``/``depths`` fix the axes (e.g. the union over models for a comparison).
    """
    _, sub = select(df, model)
    lengths = sorted(set(sub["context_length"])) if lengths is None else lengths
    depths = sorted(set(sub["requested_depth"])) if depths is None else depths
    keys = ["requested_depth", "context_length"]
    if value == "score":
        cells = sub[_is_scored(sub)].groupby(keys)["score"].mean()
    elif value == "errors":
        cells = sub[_is_error(sub)].groupby(keys).size()
    elif value == "trials":
        cells = sub.groupby(keys).size()
    else:
        raise ValueError(f"value must be score, errors or trials, not {value!r}")
    table = cells.unstack("context_length") if len(cells) else pd.DataFrame()
    table = table.reindex(index=depths, columns=lengths)
    table = table.astype(float) if value == "score" else table.fillna(0).astype(int)
    table.index.name = "requested_depth"
    table.columns.name = "context_length"
    return table


def recall_by(df: pd.DataFrame, model: str | None, by: str) -> pd.Series:
    """Mean score of answered trials by ``context_length`` or ``requested_depth``."""
    _, sub = select(df, model)
    values = sorted(set(sub[by]))
    scored = sub[_is_scored(sub)]
    return scored.groupby(by)["score"].mean().reindex(values).astype(float)


def effective_context_length(
    recall_by_length: Mapping[int, float], threshold: float = 0.85
) -> int | None:
    """The largest length L such that every length up to and including L has
    recall >= ``threshold`` x (recall at the shortest length).

    Lengths are taken in ascending order and the scan stops at the first one that
    falls below the bar or has no answered trial (NaN: unknown is not success).
    None when the shortest length has no answered trial or its recall is 0 (a model
    that retrieves nothing has no effective length).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    items = sorted(recall_by_length.items())
    if not items or _nan(items[0][1]) or items[0][1] <= 0:
        return None
    bar = threshold * items[0][1]
    best: int | None = None
    for length, recall in items:
        if _nan(recall) or recall < bar - 1e-12:
            break
        best = int(length)
    return best


def _nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def summarize(df: pd.DataFrame, threshold: float = 0.85) -> pd.DataFrame:
    """One row per model: recall, errors, tokens, cost and effective context length.

    ``recall`` is the mean score of trials that got an answer (API errors are not
    counted as misses; ``error_rate`` reports them). ``recall_by_length`` and
    ``recall_by_depth`` are dicts; see ``effective_context_length`` for its rule.
    """
    records: list[dict[str, Any]] = []
    for label in series_labels(df):
        _, sub = select(df, label)
        scored = sub[_is_scored(sub)]
        errors = int(_is_error(sub).sum())
        by_length = recall_by(df, label, "context_length")
        by_depth = recall_by(df, label, "requested_depth")
        length_map = {int(k): float(v) for k, v in by_length.items()}
        records.append(
            {
                "model": label,
                "trials": len(sub),
                "scored": len(scored),
                "errors": errors,
                "error_rate": errors / len(sub),
                "recall": float(scored["score"].mean()) if len(scored) else math.nan,
                "effective_context_length": effective_context_length(length_map, threshold),
                "threshold": threshold,
                "max_context_length": int(sub["context_length"].max()),
                "prompt_tokens": int(sub["prompt_tokens"].sum()),
                "completion_tokens": int(sub["usage_completion_tokens"].fillna(0).sum()),
                "cost_usd": float(sub["cost_usd"].sum(min_count=1)),
                "mean_latency_s": float(sub["latency_s"].mean()),
                "recall_by_length": length_map,
                "recall_by_depth": {float(k): float(v) for k, v in by_depth.items()},
            }
        )
    out = pd.DataFrame.from_records(records)
    if len(out):
        out["effective_context_length"] = out["effective_context_length"].astype("Int64")
    return out


def is_multi_needle(df: pd.DataFrame) -> bool:
    """True when some trial placed more than one needle."""
    return bool((df["n_needles"] > 1).any())
