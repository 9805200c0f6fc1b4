"""``niah plan``: the grid, its sizes and its estimated cost, before anything is sent."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from niah.backends.registry import context_window
from niah.cli.common import add_experiment_args, experiment_from_args
from niah.exchange import check_window
from niah.fmt import money, tokens
from niah.plan import plan
from niah.pricing import estimate
from niah.rag.plan import planned_rag
from niah.tasks.registry import task_builder
from niah.tokenizers import warnings_said


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan", help="show the grid, prompt sizes and estimated cost; sends nothing"
    )
    add_experiment_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiment = experiment_from_args(args)
    if experiment.media is not None:
        from niah.cli.media_plan import media_plan

        return media_plan(experiment)
    trials = plan(experiment)
    lengths = experiment.grid.lengths()
    depths = experiment.grid.depths()
    table = Table("model", "tokenizer", "trials", "prompt tokens", "largest prompt",
                  "max output", "est. cost", "cached")
    notes: list[str] = []
    cached_note = False
    longest = max(trials, key=lambda t: t.context_length)
    # everything is measured before anything is printed: bad input gives one error line
    for model in experiment.model:
        builder = task_builder(experiment, model.inner)
        largest = builder.build(longest)
        sizer: Any = builder
        if model.is_rag:  # a RAG twin: its planned prompt beside the full context's
            sizer, largest, note = planned_rag(experiment, model, builder, largest)
            notes.append(escape(note))
        check_window(model, context_window(model), longest.context_length, largest.prompt_tokens,
                     experiment.run.max_tokens)
        est = estimate(experiment, trials, sizer, model)
        # sums over the grid are rounded; one prompt's size is exact (windows are exact)
        table.add_row(escape(model.id), escape(builder.tokenizer.name), str(est.trials),
                      tokens(est.prompt_tokens, approx=True), tokens(largest.prompt_tokens),
                      tokens(est.max_output_tokens, approx=True), money(est.cost_usd),
                      "–" if est.cached_cost_usd is None else money(est.cached_cost_usd))
        cached_note = cached_note or est.cached_cost_usd is not None
        source, corpus = getattr(builder, "source", None), getattr(builder, "corpus", None)
        note = source.description if source is not None else f"task {experiment.task.name}"
        if corpus is not None and corpus.repeats > 1:
            note += f", repeated {corpus.repeats:.1f}x to fill the longest context"
        notes.append(escape(f"haystack for {model.id}: {note}; template overhead "
                            f"{largest.prompt_tokens - largest.context_tokens} tokens"))
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 120)
    lines = [
        f"[bold]{experiment.name}[/bold]: {len(lengths)} lengths x {len(depths)} depths "
        f"x {experiment.grid.repeats} repeats = {len(trials)} trials per model, "
        f"{experiment.total_needles} needle(s) per trial",
        f"lengths: {', '.join(tokens(x) for x in lengths)}",
        f"depths:  {', '.join(f'{d:g}%' for d in depths)}",
        *notes,
    ]
    for line in lines:  # unwrapped: paths in them stay whole for copy and grep
        console.print(line, soft_wrap=True)
    console.print(table)
    if cached_note:
        console.print("cached: the estimate with the provider's prompt cache (run.prompt_cache), "
                      "if it caches as documented; Anthropic's first request writes it",
                      soft_wrap=True)
    for note in warnings_said():
        console.print(f"note: {escape(note)}")
    return 0
