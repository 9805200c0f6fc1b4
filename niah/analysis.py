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

from niah.checks import TokenMismatch, token_mismatch
from niah.errors import UserError
from niah.lengths import LengthBasis, length_basis
from niah.results import ANSWER_ERRORS, ResultRow, read_manifest, read_rows, results_file

GridValue = Literal["score", "errors", "unanswered", "trials"]


class ResultsWarning(UserWarning):
    """Something in the results deserves a word (e.g. a trial stored twice)."""


def _flatten(row: ResultRow, run_dir: str, tokenizer: str | None) -> dict[str, Any]:
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
        "cache_savings_usd": row.cache_savings_usd,
        "finish_reason": row.finish_reason,
        "attempts": row.attempts,
        "cached": row.cached,
        "seed": row.seed,
        "prompt_sha256": row.prompt_sha256,
        "niah_version": row.niah_version,
        "timestamp": row.timestamp,
        "schema_version": row.schema_version,
        "extra": row.extra,
        "tokenizer": tokenizer,
    }


COLUMNS = (
    "run_dir", "experiment", "model", "trial_id", "context_length", "context_tokens",
    "prompt_tokens", "prompt_tokens_reported", "requested_depth", "actual_depth",
    "repeat", "n_needles", "needles_found", "distractors_repeated", "needles", "response",
    "score", "error",
    "error_kind", "error_message", "error_status", "latency_s", "usage_prompt_tokens",
    "usage_completion_tokens", "usage_cached_tokens", "cost_usd", "cache_savings_usd",
    "finish_reason",
    "attempts", "cached", "seed", "prompt_sha256", "niah_version", "timestamp",
    "schema_version", "extra", "tokenizer", "series",
)
"""Column order of ``load_results`` (``series`` is the label a model is drawn under,
``tokenizer`` the name the run's manifest gives for the model's lengths, or None)."""

_FLOAT_COLUMNS = ("requested_depth", "actual_depth", "score", "latency_s", "cost_usd",
                  "cache_savings_usd")


def rows_frame(
    rows: list[ResultRow], run_dir: str = "", tokenizers: Mapping[str, str | None] | None = None
) -> pd.DataFrame:
    """Rows -> the flattened frame ``load_results`` returns (for rows built in memory).

    ``tokenizers`` maps a model id to the tokenizer its lengths were counted in (as a
    manifest's ``models[].tokenizer`` does); a model left out gets None (unknown).
    """
    names = tokenizers or {}
    df = pd.DataFrame([_flatten(r, run_dir, names.get(r.model)) for r in rows],
                      columns=list(COLUMNS[:-1]))
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
        manifest = read_manifest(run_dir)
        tokenizers = None
        if manifest is not None:
            tokenizers = {m: manifest.tokenizer_of(m) for m in {r.model for r in rows}}
        frame = rows_frame(rows, str(Path(run_dir)), tokenizers)
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
    """API errors: the trial got no reply (answer errors are counted apart)."""
    return df["error"].notna() & ~df["error_kind"].isin(ANSWER_ERRORS)


def _is_unanswered(df: pd.DataFrame) -> pd.Series:
    """A reply that holds no answer: cut by the token limit, or empty."""
    return df["error_kind"].isin(ANSWER_ERRORS)


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

    ``value="score"``: mean score of the scored trials (NaN where none was);
    ``"errors"``: trials that failed with an API error; ``"unanswered"``: trials whose
    reply held no answer (truncated or empty); ``"trials"``: all trials.
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
    elif value == "unanswered":
        cells = sub[_is_unanswered(sub)].groupby(keys).size()
    elif value == "trials":
        cells = sub.groupby(keys).size()
    else:
        raise ValueError(f"value must be score, errors, unanswered or trials, not {value!r}")
    table = cells.unstack("context_length") if len(cells) else pd.DataFrame()
    table = table.reindex(index=depths, columns=lengths)
    table = table.astype(float) if value == "score" else table.fillna(0).astype(int)
    table.index.name = "requested_depth"
    table.columns.name = "context_length"
    return table


def recall_by(df: pd.DataFrame, model: str | None, by: str) -> pd.Series:
    """Mean score of scored trials by ``context_length`` or ``requested_depth``."""
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


def basis_of(df: pd.DataFrame, model: str | None = None) -> LengthBasis:
    """``length_basis`` of one model of a results frame (its rows' tokenizer and extras)."""
    _, sub = select(df, model)
    names = sub["tokenizer"].dropna().unique() if "tokenizer" in sub.columns else []
    estimated = any(isinstance(e, dict) and bool(e.get("estimated")) for e in sub["extra"])
    tokenizer = str(names[0]) if len(names) == 1 else None
    return length_basis(str(sub["model"].iloc[0]), tokenizer, estimated)


def mismatch_of(df: pd.DataFrame, model: str | None = None) -> TokenMismatch | None:
    """``niah.checks.token_mismatch`` of one model of a results frame."""
    _, sub = select(df, model)
    model_id = str(sub["model"].iloc[0])
    # The check reads three fields of a row; rebuild just those from the frame.
    rows = [
        ResultRow.model_construct(model=model_id, prompt_tokens=int(local),
                                  prompt_tokens_reported=int(reported))
        for local, reported in zip(sub["prompt_tokens"], sub["prompt_tokens_reported"],
                                   strict=True)
        if pd.notna(reported)
    ]
    return token_mismatch(rows, model_id, basis_of(df, model).tokenizer)


def summarize(df: pd.DataFrame, threshold: float = 0.85) -> pd.DataFrame:
    """One row per model: recall, errors, tokens, cost, effective context length, and
    what its lengths were counted in. ``cache_savings_usd`` is what the provider's
    prompt cache saved against the same requests uncached (NaN when no row says).

    ``recall`` is the mean score of scored trials: API errors (``errors``,
    ``error_rate``) and replies that held no answer (``unanswered``: truncated or empty,
    ``unanswered_rate``) are counted apart, never as misses. ``recall_by_length`` and
    ``recall_by_depth`` are dicts; see ``effective_context_length`` for its rule.
    ``tokenizer`` and ``lengths`` come from ``length_basis``; ``token_mismatch_*`` from
    ``niah.checks.token_mismatch`` (``token_mismatch`` is its message, or None).
    """
    records: list[dict[str, Any]] = []
    for label in series_labels(df):
        _, sub = select(df, label)
        scored = sub[_is_scored(sub)]
        errors = int(_is_error(sub).sum())
        unanswered = int(_is_unanswered(sub).sum())
        by_length = recall_by(df, label, "context_length")
        by_depth = recall_by(df, label, "requested_depth")
        length_map = {int(k): float(v) for k, v in by_length.items()}
        basis = basis_of(df, label)
        check = mismatch_of(df, label)
        records.append(
            {
                "model": label,
                "trials": len(sub),
                "scored": len(scored),
                "errors": errors,
                "error_rate": errors / len(sub),
                "unanswered": unanswered,
                "unanswered_rate": unanswered / len(sub),
                "recall": float(scored["score"].mean()) if len(scored) else math.nan,
                "effective_context_length": effective_context_length(length_map, threshold),
                "threshold": threshold,
                "max_context_length": int(sub["context_length"].max()),
                "prompt_tokens": int(sub["prompt_tokens"].sum()),
                "completion_tokens": int(sub["usage_completion_tokens"].fillna(0).sum()),
                "cost_usd": float(sub["cost_usd"].sum(min_count=1)),
                "cache_savings_usd": float(sub["cache_savings_usd"].sum(min_count=1)),
                "mean_latency_s": float(sub["latency_s"].mean()),
                "tokenizer": basis.tokenizer,
                "lengths": basis.kind,
                "token_counts_compared": int(sub["prompt_tokens_reported"].notna().sum()),
                "token_mismatch_rows": check.rows if check else 0,
                "token_mismatch_ratio": check.median_ratio if check else math.nan,
                "token_mismatch": check.message() if check else None,
                "recall_by_length": length_map,
                "recall_by_depth": {float(k): float(v) for k, v in by_depth.items()},
            }
        )
    out = pd.DataFrame.from_records(records)
    if len(out):
        out["effective_context_length"] = out["effective_context_length"].astype("Int64")
        for column in ("tokenizer", "token_mismatch"):  # None stays None, not a string NaN
            out[column] = pd.Series([x if isinstance(x, str) else None for x in out[column]],
                                    dtype=object, index=out.index)
    return out


def is_multi_needle(df: pd.DataFrame) -> bool:
    """True when some trial placed more than one needle."""
    return bool((df["n_needles"] > 1).any())
