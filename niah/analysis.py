"""Results files -> one pandas DataFrame -> grids and summaries.

Only reads ``results.jsonl`` files, so every number in a report can be recomputed
without a model. A run interrupted mid-write may leave a torn last line: it is
skipped with a ``ResultsWarning`` instead of failing the whole report.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError

from niah.errors import UserError
from niah.rows import ResultRow

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"

GridValue = Literal["score", "errors", "trials"]


class ResultsWarning(UserWarning):
    """Some lines of a results file could not be read and were skipped."""


def results_file(run_dir: str | Path) -> Path:
    """The ``results.jsonl`` of a run directory (a path to the file itself is accepted)."""
    path = Path(run_dir)
    if path.is_file():
        return path
    if not path.exists():
        raise UserError(f"{path}: no such run directory")
    target = path / RESULTS_FILE
    if not target.is_file():
        raise UserError(f"{path}: no {RESULTS_FILE} (not a niah run directory)")
    return target


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``manifest.json`` as a dict, or None when absent or unreadable."""
    path = Path(run_dir)
    path = path.parent if path.is_file() else path
    try:
        data = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_rows(path: Path) -> list[ResultRow]:
    """Every valid row of one results file, warning about the lines that are not."""
    raw_lines = path.read_bytes().split(b"\n")
    numbered = [(i + 1, line) for i, line in enumerate(raw_lines) if line.strip()]
    rows: list[ResultRow] = []
    bad: list[str] = []
    for position, (number, line) in enumerate(numbered):
        try:
            rows.append(ResultRow.model_validate(json.loads(line.decode("utf-8"))))
        except (ValueError, ValidationError) as exc:
            reason = _reason(exc)
            if position == len(numbered) - 1:
                warnings.warn(
                    f"{path} line {number}: incomplete or invalid last line skipped "
                    f"(an interrupted write?): {reason}",
                    ResultsWarning,
                    stacklevel=3,
                )
            else:
                bad.append(f"line {number}: {reason}")
    if bad:
        warnings.warn(
            f"{path}: skipped {len(bad)} invalid line(s); first {bad[0]}",
            ResultsWarning,
            stacklevel=3,
        )
    return rows


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "row"
        return f"{where}: {err['msg']}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return "not valid JSON"


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
        "depth_percent": row.depth_percent,
        "actual_depth_percent": row.actual_depth_percent,
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
    "prompt_tokens", "prompt_tokens_reported", "depth_percent", "actual_depth_percent",
    "repeat", "n_needles", "needles_found", "distractors_repeated", "needles", "response",
    "score", "error",
    "error_kind", "error_message", "error_status", "latency_s", "usage_prompt_tokens",
    "usage_completion_tokens", "usage_cached_tokens", "cost_usd", "finish_reason",
    "attempts", "cached", "seed", "prompt_sha256", "niah_version", "timestamp",
    "schema_version", "extra", "series",
)
"""Column order of ``load_results`` (``series`` is the label a model is drawn under)."""

_FLOAT_COLUMNS = ("depth_percent", "actual_depth_percent", "score", "latency_s", "cost_usd")


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
    """One model's grid: index ``depth_percent`` (ascending), columns ``context_length``.

    ``value="score"``: mean score of the trials that got an answer (NaN where none did);
    ``"errors"``: trials that failed with an API error; ``"trials"``: all trials.
    ``lengths``/``depths`` fix the axes (e.g. the union over models for a comparison).
    """
    _, sub = select(df, model)
    lengths = sorted(set(sub["context_length"])) if lengths is None else lengths
    depths = sorted(set(sub["depth_percent"])) if depths is None else depths
    keys = ["depth_percent", "context_length"]
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
    table.index.name = "depth_percent"
    table.columns.name = "context_length"
    return table


def recall_by(df: pd.DataFrame, model: str | None, by: str) -> pd.Series:
    """Mean score of answered trials by ``context_length`` or ``depth_percent``."""
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
        by_depth = recall_by(df, label, "depth_percent")
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
