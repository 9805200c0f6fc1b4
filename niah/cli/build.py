"""``niah build``: write every trial's prompt as JSON lines (for audits or other harnesses)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from niah.atomic import atomic_file
from niah.backends.registry import context_window
from niah.cli.common import add_experiment_args, experiment_from_args
from niah.config import Experiment
from niah.errors import StoreError, UserError
from niah.exchange import check_window
from niah.plan import Trial, plan
from niah.tasks.registry import task_builder


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "build", help="build every trial's prompt into a JSONL file; sends nothing"
    )
    add_experiment_args(p)
    p.add_argument("--out", required=True, help="output .jsonl file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiment = experiment_from_args(args)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out: {out} is a folder; give a .jsonl file path")
    if not out.parent.exists():
        raise UserError(f"--out: folder {out.parent} does not exist")
    trials = plan(experiment)
    longest = max(trials, key=lambda t: t.context_length)
    for model in experiment.model:  # refuse lengths a model cannot hold before writing
        largest = task_builder(experiment, model).build(longest)
        check_window(model, context_window(model), longest.context_length, largest.prompt_tokens,
                     experiment.run.max_tokens)
    try:  # a temporary file renamed at the end: an interrupted build leaves no torn file
        _write(out, experiment, trials)
    except OSError as exc:
        raise StoreError(f"--out: cannot write {out} ({exc.strerror or exc})") from exc
    print(f"wrote {len(trials) * len(experiment.model)} prompts to {out}")
    return 0


def _write(out: Path, experiment: Experiment, trials: list[Trial]) -> None:
    with atomic_file(out) as f:
        for model in experiment.model:
            builder = task_builder(experiment, model)  # one corpus in memory at a time
            for trial in trials:
                bp = builder.build(trial)  # one at a time: never all in memory
                row = {
                    "trial_id": trial.trial_id,
                    "model": model.id,
                    "tokenizer": builder.tokenizer.name,
                    "context_length": trial.context_length,
                    "requested_depth": trial.requested_depth,
                    "actual_depth": bp.actual_depth,
                    "repeat": trial.repeat,
                    "seed": trial.seed,
                    "context_tokens": bp.context_tokens,
                    "prompt_tokens": bp.prompt_tokens,
                    "question": bp.question,
                    "needles": [asdict(n) for n in bp.needles],
                    "messages": bp.messages,
                    "context": bp.context,
                    "prompt_sha256": bp.prompt_sha256,
                }
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
