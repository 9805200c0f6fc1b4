"""``niah rescore --scoring judge``: stored answers judged again by an LLM judge.

The judge is asked through the runner's own machinery (``Runner.judge_row``: the
response cache, retries, rate limits, cost), with the run settings and prices of the
run's manifest, so judging a run twice sends nothing the second time. The model under
test is never called. Rows without an answer (API errors, empty or cut replies) are
left as the deterministic rescore made them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from niah.aio import all_or_cancel
from niah.cache import ResponseCache
from niah.config import Experiment, ScoringSpec, load_experiment
from niah.errors import UserError
from niah.judge import needs_judge
from niah.plan import Trial
from niah.results import ResultRow, read_manifest
from niah.runner import Runner, SleepFn, open_judge


def judge_experiment(run_dir: Path, spec: ScoringSpec) -> Experiment:
    """The run's experiment with ``spec`` as its scoring; a run without a usable config
    (an import) gets default run settings and keeps its prices."""
    manifest = read_manifest(run_dir)
    config: dict[str, Any] = dict(manifest.config) if manifest is not None else {}
    scoring = spec.model_dump(mode="json")
    try:
        return load_experiment({**config, "scoring": scoring})
    except UserError:
        return load_experiment({
            "name": "rescore", "model": "scripted/none", "scoring": scoring,
            "needles": [{"text": "-", "answer": "-"}],
            "run": config.get("run") or {}, "pricing": config.get("pricing") or {},
        })


def _trial(row: ResultRow) -> Trial:
    """The trial a row came from, as far as routing a request needs it."""
    return Trial(trial_id=row.trial_id, context_length=row.context_length,
                 requested_depth=row.requested_depth, repeat=row.repeat, seed=row.seed,
                 needle_depths=tuple(n.actual_depth for n in row.needles))


async def rejudge_rows(
    experiment: Experiment, rows: list[ResultRow], *, cache_dir: Path | None = None,
    sleep: SleepFn | None = None,
) -> list[ResultRow]:
    """``rows`` (already rescored by the baseline) with the judge's verdicts."""
    judge = await open_judge(experiment, sleep)
    cache = ResponseCache(cache_dir) if experiment.run.cache else None
    try:
        runner = Runner(experiment, None, cache, sleep=sleep)
        runner.judge = judge
        limit = asyncio.Semaphore(judge.endpoints.workers())
        out = list(rows)

        async def one(i: int) -> None:
            async with limit:
                out[i] = await runner.judge_row(out[i], _trial(out[i]))

        await all_or_cancel([one(i) for i, r in enumerate(rows) if needs_judge(r)])
        return out
    finally:
        if cache is not None:
            cache.close()
        await judge.endpoints.aclose()


def rejudge(run_dir: Path, rows: list[ResultRow], spec: ScoringSpec, *,
            cache_dir: Path | None = None, sleep: SleepFn | None = None) -> list[ResultRow]:
    """Blocking ``rejudge_rows`` with the run's own settings."""
    experiment = judge_experiment(run_dir, spec)
    return asyncio.run(rejudge_rows(experiment, rows, cache_dir=cache_dir, sleep=sleep))
