"""Rescoring: score stored responses again, without calling any model.

Scoring is a pure function of (needles, response, spec), so a run's rows can be
rescored at any time. The rows are rewritten whole (temp file, fsync, rename) under
the run's lock; the previous file is kept as ``results.jsonl.bak`` and the manifest
records the scorer.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from niah.atomic import write_text
from niah.config import Experiment, ScoringSpec, TaskSpec, config_error
from niah.errors import StoreError
from niah.importers import JUDGE_KEY
from niah.results import (
    ANSWER_ERRORS,
    JUDGE_ERROR,
    MANIFEST_FILE,
    ResultRow,
    manifest_text,
    read_manifest,
    read_rows,
    results_file,
    rows_text,
)
from niah.scoring import check_spec
from niah.store import RunLock, utc_now
from niah.tasks.registry import task_options
from niah.tasks.stored import regrade

BACKUP_SUFFIX = ".bak"


def scoring_spec(run_dir: Path, kind: str | None, pattern: str | None,
                 judge: dict[str, Any] | None = None) -> ScoringSpec:
    """The scorer asked for, else the one the run was made with. ``judge`` holds the
    judge's fields given (``model``, ``rubric``); a run judged before keeps the rest."""
    manifest = read_manifest(run_dir)
    saved = (manifest.config.get("scoring") if manifest else None) or {}
    data: dict[str, Any] = dict(saved) if kind is None and pattern is None else {}
    if kind == "judge" and saved.get("kind") == "judge":
        data = dict(saved)  # re-judge with the run's judge unless told otherwise
    data.update({k: v for k, v in (judge or {}).items() if v is not None})
    if kind is not None:
        data["kind"] = kind
    if pattern is not None:
        data["pattern"] = pattern
        data.setdefault("kind", "regex")
    try:
        spec = ScoringSpec.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, prefix="scoring.") from None
    check_spec(spec)
    return spec


def rescore_rows(rows: list[ResultRow], spec: ScoringSpec,
                 experiment: Experiment | None = None) -> tuple[list[ResultRow], int]:
    """Rows with fresh scores (API error rows untouched), and how many scores changed.

    Each row is graded by the experiment's task (the default ``needle`` without one). A
    truncated or empty answer is scored again too: a scorer that now finds the answer
    in a cut-off reply turns the error row into a scored row, and back.
    """
    task, options = task_options(experiment.task if experiment is not None else TaskSpec())
    out: list[ResultRow] = []
    changed = 0
    for row in rows:
        answer_error = row.error is not None and row.error.kind in {*ANSWER_ERRORS, JUDGE_ERROR}
        if row.response is None or (row.error is not None and not answer_error):
            out.append(row)
            continue
        new = regrade(unjudged(row), task, options, spec)
        changed += new.score != row.score
        out.append(new)
    return out, changed


def unjudged(row: ResultRow) -> ResultRow:
    """``row`` without a previous judge's verdict, its baseline score back in ``score``."""
    if row.judge is None:
        return row
    extra = {k: v for k, v in row.extra.items() if k != JUDGE_KEY}
    return row.model_copy(update={"judge": None, "extra": extra,
                                  "score": row.judge.deterministic_score})


def _replace_keeping_backup(results: Path, text: str) -> None:
    tmp = results.with_name(f".{results.name}.{os.getpid()}.tmp")
    backup = results.with_name(results.name + BACKUP_SUFFIX)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        backup.unlink(missing_ok=True)
        try:
            os.link(results, backup)  # the old file stays whole under both names
        except OSError:
            shutil.copy2(results, backup)
        os.replace(tmp, results)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{results}: cannot rewrite ({exc.strerror or exc})") from exc


def rescore_run(run_dir: Path, spec: ScoringSpec, **judge_options: Any) -> tuple[int, int]:
    """Rescore ``run_dir`` in place under its lock; (rows, rows whose score changed).
    An LLM judge is asked again (``niah.rejudge``; ``judge_options``: cache_dir, sleep)."""
    results = results_file(run_dir)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        old = read_rows(run_dir)
        rows, changed = rescore_rows(old, spec, _experiment(run_dir))
        if spec.kind == "judge":  # the baseline scored above, the judge now
            from niah.rejudge import rejudge

            rows = rejudge(run_dir, rows, spec, **judge_options)
            changed = sum(a.score != b.score for a, b in zip(old, rows, strict=True))
        _replace_keeping_backup(results, rows_text(rows))
        manifest = read_manifest(run_dir)
        if manifest is not None:
            manifest.config["scoring"] = spec.model_dump(mode="json")
            manifest.rescored.append(
                {"at": utc_now().isoformat(timespec="seconds"), "scoring": spec.model_dump()}
            )
            write_text(run_dir / MANIFEST_FILE, manifest_text(manifest))
    finally:
        lock.release()
    return len(rows), changed


def _experiment(run_dir: Path) -> Experiment | None:
    """The run's experiment (its task grades), or None for an imported run (needles)."""
    from niah.reconstruct import manifest_experiment

    manifest = read_manifest(run_dir)
    if manifest is None or manifest.imported_from is not None:
        return None
    return manifest_experiment(manifest, run_dir)
