"""``niah run``: send every trial to the model(s), store scored rows, show recall."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from niah.backends.registry import context_window
from niah.cache import ResponseCache
from niah.checks import errors_by_kind, token_mismatch
from niah.cli.common import add_experiment_args, console, experiment_from_args, one_line
from niah.config import Experiment
from niah.exchange import check_window, make_request
from niah.fmt import duration, money, tokens
from niah.plan import Trial, plan, prefix_order
from niah.pricing import estimated_cost
from niah.progress import RichProgress
from niah.results import ANSWER_ERRORS, RESULTS_FILE, ResultRow, read_manifest, read_rows
from niah.runner import RunFailed, default_builder, stored_trials
from niah.runner import run as run_experiment
from niah.shard import Shard, parse_shard, select, shard_from_env
from niah.store import resolve_run_dir


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run an experiment: send each trial, score it, store a row",
        description="Send every trial of CONFIG to each model and append one scored row per "
        "trial to DIR/results.jsonl. An interrupted run resumes where it stopped.",
    )
    add_experiment_args(parser)
    parser.add_argument(
        "--out", metavar="DIR",
        help="run directory (default: results/<name>/<UTC time>/, or the latest run of the "
        "same experiment, which is resumed)",
    )
    parser.add_argument("--fresh", action="store_true",
                        help="start a new run directory instead of resuming")
    parser.add_argument(
        "--shard", metavar="I/N",
        help="run shard I of N (a token-balanced 1/N of the trials; default: from "
        "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set); join shards with niah merge",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="build every prompt, show what would be sent; send and write nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiment = experiment_from_args(args)
    shard = parse_shard(args.shard) if args.shard else shard_from_env()
    # Model ids and paths are printed as given: "[" in them is text, never rich markup.
    out = console()
    if args.dry_run:
        dry_run(experiment, args.out, args.fresh, out, shard)
        return 0
    run_dir = resolve_run_dir(experiment, args.out, args.fresh,
                              shard=shard.as_dict() if shard else None)
    err = console(stderr=True)
    failed: RunFailed | None = None
    try:
        with RichProgress(err) as bar:
            run_experiment(experiment, run_dir, fresh=args.fresh, progress=bar, shard=shard)
    except KeyboardInterrupt:
        err.print(f"interrupted: finished rows are kept in {run_dir}; run the same command "
                  "to resume")
        raise
    except RunFailed as exc:
        failed = exc
    summary(experiment, run_dir, out, err)
    if failed is not None:
        for message in failed.failures.values():
            err.print(f"niah: failed: {one_line(message)}", soft_wrap=True)
        return 1
    return 0


def _mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.2f}" if values else "-"


def summary(experiment: Experiment, run_dir: Path, out: Console, err: Console) -> None:
    """Recall (mean score of answered trials) by context length, one column per model;
    then errors by kind with an example each, and any token-count mismatch.

    Lengths run down the rows so a long sweep never squeezes the table sideways.
    """
    wanted = [m.id for m in experiment.model]
    if not (run_dir / RESULTS_FILE).is_file():
        return
    rows = [r for r in read_rows(run_dir) if r.model in wanted]
    lengths = sorted({r.context_length for r in rows})
    by_model: dict[str, list[ResultRow]] = defaultdict(list)
    for row in rows:
        by_model[row.model].append(row)
    scores: dict[str, dict[int, list[float]]] = {m: defaultdict(list) for m in wanted}
    api_errors: dict[str, int] = {}
    answer_errors: dict[str, int] = {}
    spent: dict[str, float | None] = {}
    for model in wanted:
        mine = by_model.get(model, [])
        for r in mine:
            if r.score is not None and r.error is None:
                scores[model][r.context_length].append(r.score)
        api_errors[model] = sum(r.error is not None and r.error.kind not in ANSWER_ERRORS
                                for r in mine)
        answer_errors[model] = sum(r.error is not None and r.error.kind in ANSWER_ERRORS
                                   for r in mine)
        spent[model] = total_cost(mine)
    judged = any(r.judge is not None for r in rows)  # an LLM judge's scores, said so
    title = "judge score by context length (LLM judge)" if judged else "recall by context length"
    table = Table(title=title, title_justify="left")
    table.add_column("length", justify="right", no_wrap=True)
    for model in wanted:
        table.add_column(model, justify="right", overflow="fold")
    media = bool(rows) and all(r.length_unit == "seconds" for r in rows)
    if media:
        table.title = "recall by duration"
        table.columns[0].header = "duration"
    for n in lengths:
        table.add_row(duration(n) if media else tokens(n), *(_mean(scores[m][n]) for m in wanted))
    table.add_section()
    table.add_row("all", *(_mean([s for v in scores[m].values() for s in v]) for m in wanted))
    table.add_row("errors", *(str(api_errors[m]) for m in wanted))
    table.add_row("unanswered", *(str(answer_errors[m]) for m in wanted))
    table.add_row("cost", *(money(spent[m]) for m in wanted))
    if judged:
        table.add_row("judge cost", *(money(judge_cost(by_model.get(m, []))) for m in wanted))
    out.print(table)
    out.print(f"results: {run_dir / RESULTS_FILE}")
    manifest = read_manifest(run_dir)
    for model in wanted:
        for kind in errors_by_kind(rows, model):
            err.print(f"{model}: {kind.kind}: {kind.count} (e.g. {one_line(kind.example)})",
                      soft_wrap=True)
        tokenizer = manifest.tokenizer_of(model) if manifest else None
        mismatch = token_mismatch(rows, model, tokenizer)
        if mismatch is not None:
            err.print(f"warning: {mismatch.message()}", soft_wrap=True)


def total_cost(rows: list[ResultRow]) -> float | None:
    """Money spent on ``rows``: cached answers cost nothing again; None when unknown."""
    total: float | None = 0.0
    for r in rows:
        if r.response is not None and not r.cached:
            total = None if total is None or r.cost_usd is None else total + r.cost_usd
    return total


def judge_cost(rows: list[ResultRow]) -> float | None:
    """Money the LLM judge cost on ``rows`` (apart from the model's): cached verdicts
    cost nothing again; None when unknown."""
    total: float | None = 0.0
    for r in rows:
        if r.judge is not None and r.judge.reply is not None and not r.judge.cached:
            total = None if total is None or r.judge.cost_usd is None else total + r.judge.cost_usd
    return total


def dry_run(experiment: Experiment, out_dir: str | None, fresh: bool, out: Console,
            shard: Shard | None = None) -> None:
    """Build every pending prompt and count what would be sent; write nothing."""
    trials = select(prefix_order(plan(experiment)), shard)
    run_dir = resolve_run_dir(experiment, out_dir, fresh,
                              shard=shard.as_dict() if shard else None)
    stored = {} if fresh else stored_trials(run_dir)
    cache = ResponseCache(readonly=True) if experiment.run.cache else None
    max_tokens = experiment.run.max_tokens
    table = Table(title=f"dry run: nothing sent, nothing written ({run_dir})",
                  caption=f"cost assumes every answer uses run.max_tokens={max_tokens}",
                  title_justify="left", caption_justify="left")
    table.add_column("model", overflow="fold")
    for name in ("trials", "stored", "cached", "to send", "prompt tokens", "cost at most"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    if experiment.media is not None:  # media files are not built for a dry run
        if cache is not None:
            cache.close()
            cache = None
        _media_rows(experiment, trials, stored, table)
    try:
        for spec in experiment.model if experiment.media is None else []:
            builder = default_builder(experiment, spec)
            window = context_window(spec)
            done = stored.get(spec.id, set())
            pending = [t for t in trials if t.trial_id not in done]
            hits = tokens = 0
            spend: float | None = 0.0
            for trial in pending:
                bp = builder.build(trial)
                check_window(spec, window, trial.context_length, bp.prompt_tokens, max_tokens)
                request = make_request(experiment, bp, spec)
                if cache is not None and cache.lookup(spec, request)[1] is not None:
                    hits += 1
                    continue
                tokens += bp.prompt_tokens
                one = estimated_cost(experiment, spec, bp.prompt_tokens)
                spend = None if one is None or spend is None else spend + one
            sent = len(pending) - hits
            table.add_row(spec.id, str(len(trials)), str(len(trials) - len(pending)), str(hits),
                          str(sent), f"{tokens:,}", money(spend))
    finally:
        if cache is not None:
            cache.close()
    out.print(table)


def _media_rows(experiment: Experiment, trials: list[Trial], stored: dict[str, set[str]],
                table: Table) -> None:
    """Dry-run rows of a media sweep, from the providers' documented token counts."""
    from niah.media.builder import MediaBuilder
    from niah.media.estimate import estimate_media
    from niah.media.sources import open_media_source

    assert experiment.media is not None
    source = open_media_source(experiment.media, experiment)
    for spec in experiment.model:
        done = stored.get(spec.id, set())
        pending = [t for t in trials if t.trial_id not in done]
        builder = MediaBuilder(experiment, spec, source)
        est = estimate_media(experiment, builder, pending) if pending else None
        sent = est.prompt_tokens if est is not None else 0
        table.add_row(spec.id, str(len(trials)), str(len(trials) - len(pending)), "–",
                      str(len(pending)), "unknown" if sent is None else f"{sent:,}",
                      money(est.cost_usd if est is not None else 0.0))
