"""Results files -> one pandas DataFrame -> grids and summaries.

Only reads ``results.jsonl`` files (through ``niah.results``, the one reader), so every
number in a report can be recomputed without a model.

Every count and recall comes from one place, ``_trial_counts`` (what a trial adds to
its cell), summed by ``cell_table`` (a model's grid, which ``grid`` pivots for the
heatmaps) and ``recall_table`` (by length or depth): a heatmap, ``cells.csv`` and the
summary cannot disagree. Recall is needles found / needles asked, each needle one
Bernoulli trial, with Wilson intervals from ``niah.stats``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from niah.checks import TokenMismatch, token_mismatch
from niah.errors import UserError
from niah.lengths import LengthBasis, length_basis
from niah.results import (
    ANSWER_ERRORS,
    Manifest,
    ResultRow,
    read_manifest,
    read_rows,
    results_file,
)
from niah.stats import (
    CONFIDENCE,
    RULER_THRESHOLD,
    absolute_effective_length,
    relative_effective_length,
    wilson_intervals,
)

GridValue = Literal["score", "errors", "unanswered", "trials"]


class ResultsWarning(UserWarning):
    """Something in the results deserves a word (e.g. a trial stored twice)."""


DEFAULT_TASK = "needle"
"""The task of runs whose config names none (every run before tasks existed)."""


def _flatten(row: ResultRow, run_dir: str, tokenizer: str | None,
             task: str = DEFAULT_TASK) -> dict[str, Any]:
    error = row.error
    return {
        "run_dir": run_dir,
        "experiment": row.experiment,
        "model": row.model,
        "trial_id": row.trial_id,
        "context_length": row.context_length,
        "length_unit": row.length_unit,
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
        "judge": row.judge.model_dump() if row.judge is not None else None,
        "tokenizer": tokenizer,
        "task": task,
    }


COLUMNS = (
    "run_dir", "experiment", "model", "trial_id", "context_length", "length_unit",
    "context_tokens",
    "prompt_tokens", "prompt_tokens_reported", "requested_depth", "actual_depth",
    "repeat", "n_needles", "needles_found", "distractors_repeated", "needles", "response",
    "score", "error",
    "error_kind", "error_message", "error_status", "latency_s", "usage_prompt_tokens",
    "usage_completion_tokens", "usage_cached_tokens", "cost_usd", "cache_savings_usd",
    "finish_reason",
    "attempts", "cached", "seed", "prompt_sha256", "niah_version", "timestamp",
    "schema_version", "extra", "judge", "tokenizer", "task", "series",
)
"""Column order of ``load_results`` (``series`` is the label a model is drawn under,
``tokenizer`` the name the run's manifest gives for the model's lengths, or None;
``judge`` the LLM judge's verdict as a dict, ``ResultRow.judge``, or None; ``task`` the
run's task, from its manifest)."""

_FLOAT_COLUMNS = ("requested_depth", "actual_depth", "score", "latency_s", "cost_usd",
                  "cache_savings_usd")


def rows_frame(
    rows: list[ResultRow], run_dir: str = "", tokenizers: Mapping[str, str | None] | None = None,
    task: str = DEFAULT_TASK,
) -> pd.DataFrame:
    """Rows -> the flattened frame ``load_results`` returns (for rows built in memory).

    ``tokenizers`` maps a model id to the tokenizer its lengths were counted in (as a
    manifest's ``models[].tokenizer`` does); a model left out gets None (unknown).
    ``task`` is the task the rows come from (``task.name`` of the run's config).
    """
    names = tokenizers or {}
    df = pd.DataFrame([_flatten(r, run_dir, names.get(r.model), task) for r in rows],
                      columns=list(COLUMNS[:-1]))
    for column in _FLOAT_COLUMNS:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    df["series"] = df["model"].astype(object)
    return df


def load_results(*run_dirs: str | Path) -> pd.DataFrame:
    """Load one or more run directories into one DataFrame, one row per trial result.

    A trial stored twice in one run (same model and trial_id) keeps its last row.
    ``series`` is the model id, or ``model (run dir name)`` when one model appears in
    several of the given runs, so their grids are kept apart; when the runs hold
    several tasks it is ``model [task]``, so recall and effective context lengths are
    per task.
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
        frame = rows_frame(rows, str(Path(run_dir)), tokenizers, _task_of(manifest))
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
    if df["task"].nunique() > 1:  # one series per model and task
        df["series"] = [f"{m} [{t}]" for m, t in zip(df["model"], df["task"], strict=True)]
    runs_per_model = df.groupby("series")["run_dir"].nunique()
    shared = set(runs_per_model[runs_per_model > 1].index)
    if shared:
        df["series"] = [
            f"{s} ({Path(r).name or r})" if s in shared else s
            for s, r in zip(df["series"], df["run_dir"], strict=True)
        ]
    return df.reset_index(drop=True)


def _task_of(manifest: Manifest | None) -> str:
    """The task a run was made with (its config's ``task``; older runs: ``needle``)."""
    task = (manifest.config.get("task") if manifest is not None else None) or DEFAULT_TASK
    name = task.get("name", DEFAULT_TASK) if isinstance(task, dict) else task
    return str(name)


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


COUNT_COLUMNS = ("trials", "scored", "errors", "unanswered", "needles", "found")
"""What each trial adds to its cell: one trial; scored, API error or unanswered (one of
the three); ``needles`` asked and ``found`` in it when it was scored (else 0)."""

CELL_COLUMNS = ("model", "context_length", "requested_depth", *COUNT_COLUMNS,
                "recall", "recall_low", "recall_high")
"""Columns of ``cell_table`` (and ``cells.csv``)."""


def _trial_counts(sub: pd.DataFrame) -> pd.DataFrame:
    """One row per trial with its ``COUNT_COLUMNS``, ready to be summed by any key.

    Each asked-for needle of a scored trial is one Bernoulli trial: ``found`` is
    ``score x needles`` (exactly the needles found for niah's own scorer; a fraction
    for an imported judge score). A trial that records no needle counts as one.
    """
    scored = _is_scored(sub)
    needles = sub["n_needles"].clip(lower=1).where(scored, 0).astype(int)
    found = (sub["score"].where(scored, 0.0) * needles).round(9)
    return pd.DataFrame({
        "context_length": sub["context_length"],
        "requested_depth": sub["requested_depth"],
        "trials": 1,
        "scored": scored.astype(int),
        "errors": _is_error(sub).astype(int),
        "unanswered": _is_unanswered(sub).astype(int),
        "needles": needles,
        "found": found.astype(float),
    }, index=sub.index)


def _with_recall(counts: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``counts`` plus recall = found / needles and its Wilson interval (NaN: unknown)."""
    out = counts.copy()
    asked = out["needles"].to_numpy(dtype=float)
    hits = out["found"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["recall"] = np.where(asked > 0, hits / asked, np.nan)
    out["recall_low"], out["recall_high"] = wilson_intervals(hits, asked, confidence)
    return out


def cell_table(
    df: pd.DataFrame,
    model: str | None = None,
    *,
    lengths: list[int] | None = None,
    depths: list[float] | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """One model's grid as a tidy table: a row per (context_length, requested_depth).

    Columns are ``CELL_COLUMNS``: the counts of ``COUNT_COLUMNS``, ``recall`` (needles
    found / needles asked over the scored trials; NaN where none was scored) and its
    Wilson interval at ``confidence``. Rows run by length, then depth, over the
    model's own lengths and depths or the given axes; a cell not run has 0 trials.
    ``grid`` pivots this table, so a heatmap and ``cells.csv`` cannot disagree.
    """
    label, sub = select(df, model)
    lengths = sorted(set(sub["context_length"])) if lengths is None else lengths
    depths = sorted(set(sub["requested_depth"])) if depths is None else depths
    keys = ["context_length", "requested_depth"]
    counts = _trial_counts(sub).groupby(keys)[list(COUNT_COLUMNS)].sum()
    axes = pd.MultiIndex.from_product([lengths, depths], names=keys)
    counts = counts.reindex(axes, fill_value=0).astype(
        {c: int for c in COUNT_COLUMNS if c != "found"} | {"found": float})
    cells = _with_recall(counts, confidence).reset_index()
    cells.insert(0, "model", label)
    return cells[list(CELL_COLUMNS)]


def grid(
    df: pd.DataFrame,
    model: str | None = None,
    value: GridValue = "score",
    *,
    lengths: list[int] | None = None,
    depths: list[float] | None = None,
) -> pd.DataFrame:
    """One model's grid: index ``requested_depth`` (ascending), columns ``context_length``.

    ``value="score"``: recall of the scored trials, needles found / needles asked (the
    mean score when every trial asks the same number; NaN where none was scored);
    ``"errors"``: trials that failed with an API error; ``"unanswered"``: trials whose
    reply held no answer (truncated or empty); ``"trials"``: all trials.
    ``lengths``/``depths`` fix the axes (e.g. the union over models for a comparison).
    A pivot of ``cell_table``.
    """
    columns = {"score": "recall", "errors": "errors", "unanswered": "unanswered",
               "trials": "trials"}
    if value not in columns:
        raise ValueError(f"value must be score, errors, unanswered or trials, not {value!r}")
    cells = cell_table(df, model, lengths=lengths, depths=depths)
    table = cells.pivot(index="requested_depth", columns="context_length",
                        values=columns[value])
    table = table.reindex(index=list(dict.fromkeys(cells["requested_depth"])),
                          columns=list(dict.fromkeys(cells["context_length"])))
    table = table.astype(float) if value == "score" else table.astype(int)
    table.index.name = "requested_depth"
    table.columns.name = "context_length"
    return table


def recall_table(
    df: pd.DataFrame, model: str | None, by: str, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Recall by ``context_length`` or ``requested_depth`` with its Wilson interval.

    Index: the model's values of ``by`` (ascending); columns: ``COUNT_COLUMNS``,
    ``recall``, ``recall_low``, ``recall_high``. Counted from the same per-trial counts
    as ``cell_table``, so a length's row is the sum of its cells.
    """
    _, sub = select(df, model)
    values = sorted(set(sub[by]))
    counts = _trial_counts(sub).groupby(by)[list(COUNT_COLUMNS)].sum().reindex(
        values, fill_value=0)
    counts.index.name = by
    return _with_recall(counts, confidence)


def recall_by(df: pd.DataFrame, model: str | None, by: str) -> pd.Series:
    """Recall (needles found / asked) of scored trials by ``context_length`` or
    ``requested_depth``; NaN where nothing was scored."""
    return recall_table(df, model, by)["recall"].astype(float)


def effective_context_length(
    recall_by_length: Mapping[int, float], threshold: float = 0.85
) -> int | None:
    """The relative effective context length: the largest length L such that every
    length up to and including L has recall >= ``threshold`` x (recall at the shortest
    length). See ``niah.stats.relative_effective_length`` (which also gives where it
    breaks) and ``niah.stats.absolute_effective_length`` for RULER's fixed bar.

    None when the shortest length has no answered trial or its recall is 0 (a model
    that retrieves nothing has no effective length).
    """
    return relative_effective_length(recall_by_length, threshold).length


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


LENGTH_COLUMNS = ("effective_context_length", "relative_breaks_at",
                  "absolute_effective_context_length", "absolute_breaks_at")
"""Summary columns that hold a length or nothing (nullable integers)."""


def summarize(
    df: pd.DataFrame,
    threshold: float = 0.85,
    absolute_threshold: float = RULER_THRESHOLD,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """One row per model: recall, errors, tokens, cost, effective context length, and
    what its lengths were counted in. ``cache_savings_usd`` is what the provider's
    prompt cache saved against the same requests uncached (NaN when no row says).

    ``recall`` is needles found / needles asked over the scored trials (the mean score
    when every trial asks the same number of needles, as in any one run), with its
    Wilson interval ``recall_low``..``recall_high`` at ``confidence``: API errors
    (``errors``, ``error_rate``) and replies that held no answer (``unanswered``:
    truncated or empty, ``unanswered_rate``) are counted apart, never as misses.
    ``recall_by_length`` and ``recall_by_depth`` are dicts (``recall_table`` has their
    intervals).

    The effective context length comes under two definitions (``niah.stats``):
    relative, ``effective_context_length``: recall stays >= ``threshold`` x the recall
    at the shortest length (``relative_bar``); absolute,
    ``absolute_effective_context_length``: recall stays >= ``absolute_threshold``
    (RULER's convention). ``*_breaks_at`` is the first length that falls below (or has
    nothing scored); empty when none does.

    ``tokenizer`` and ``lengths`` come from ``length_basis``; ``token_mismatch_*`` from
    ``niah.checks.token_mismatch`` (``token_mismatch`` is its message, or None).
    """
    records: list[dict[str, Any]] = []
    for label in series_labels(df):
        _, sub = select(df, label)
        counts = _trial_counts(sub)
        asked, found = int(counts["needles"].sum()), float(counts["found"].sum())
        low, high = wilson_intervals(found, asked, confidence)
        errors = int(counts["errors"].sum())
        unanswered = int(counts["unanswered"].sum())
        by_length = recall_by(df, label, "context_length")
        by_depth = recall_by(df, label, "requested_depth")
        length_map = {int(k): float(v) for k, v in by_length.items()}
        relative = relative_effective_length(length_map, threshold)
        absolute = absolute_effective_length(length_map, absolute_threshold)
        basis = basis_of(df, label)
        check = mismatch_of(df, label)
        records.append(
            {
                "model": label,
                "task": str(sub["task"].iloc[0]) if "task" in sub.columns else DEFAULT_TASK,
                "trials": len(sub),
                "scored": int(counts["scored"].sum()),
                "errors": errors,
                "error_rate": errors / len(sub),
                "unanswered": unanswered,
                "unanswered_rate": unanswered / len(sub),
                "recall": found / asked if asked else math.nan,
                "recall_low": float(low),
                "recall_high": float(high),
                "confidence": confidence,
                "effective_context_length": relative.length,
                "threshold": threshold,
                "relative_bar": relative.bar,
                "relative_breaks_at": relative.breaks_at,
                "absolute_effective_context_length": absolute.length,
                "absolute_threshold": absolute_threshold,
                "absolute_breaks_at": absolute.breaks_at,
                "max_context_length": int(sub["context_length"].max()),
                "prompt_tokens": int(sub["prompt_tokens"].sum()),
                "mean_prompt_tokens": float(sub["prompt_tokens"].mean()),
                "retrieval_recall": _retrieval_recall(sub),
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
        for column in LENGTH_COLUMNS:
            out[column] = pd.array(out[column].tolist(), dtype="Int64")
        for column in ("tokenizer", "token_mismatch"):  # None stays None, not a string NaN
            out[column] = pd.Series([x if isinstance(x, str) else None for x in out[column]],
                                    dtype=object, index=out.index)
    return out


def _retrieval_recall(sub: pd.DataFrame) -> float:
    """Mean ``extra.rag.retrieval_recall`` of a RAG twin's rows (NaN for other models)."""
    values = [e["rag"]["retrieval_recall"] for e in sub["extra"]
              if isinstance(e, dict) and isinstance(e.get("rag"), dict)
              and e["rag"].get("retrieval_recall") is not None]
    return float(sum(values) / len(values)) if values else math.nan


def is_multi_needle(df: pd.DataFrame) -> bool:
    """True when some trial placed more than one needle."""
    return bool((df["n_needles"] > 1).any())
