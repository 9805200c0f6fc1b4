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
    p.add_argument("--media", metavar="DIR",
                   help="video/audio haystacks: write each trial's media files into DIR "
                   "(default: niah's media cache); the JSONL lists them with their sha256")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiment = experiment_from_args(args)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out: {out} is a folder; give a .jsonl file path")
    if not out.parent.exists():
        raise UserError(f"--out: folder {out.parent} does not exist")
    trials = plan(experiment)
    if experiment.media is not None:
        return _build_media(args, experiment, out, trials)
    if args.media:
        raise UserError("--media: only for video or audio haystacks")
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


def _build_media(args: argparse.Namespace, experiment: Experiment, out: Path,
                 trials: list[Trial]) -> int:
    """Every trial's media written (into ``--media``) and listed, one line per prompt."""
    from niah.media.builder import MediaBuilder
    from niah.media.estimate import estimate_media
    from niah.media.sources import open_media_source

    assert experiment.media is not None
    media_dir = Path(args.media).resolve() if args.media else None
    if media_dir is not None and media_dir.exists() and not media_dir.is_dir():
        raise UserError(f"--media: {media_dir} is not a folder")
    source = open_media_source(experiment.media, experiment)
    builders = [MediaBuilder(experiment, m, source, out_dir=media_dir) for m in experiment.model]
    for builder in builders:  # refuse what a model cannot take before writing anything
        estimate_media(experiment, builder, trials)
    if media_dir is not None:
        media_dir.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(out) as f:
            for builder in builders:
                for trial in trials:
                    bp = builder.build(trial)
                    row = {
                        "trial_id": trial.trial_id, "model": builder.model.id,
                        "duration_s": trial.context_length, "length_unit": "seconds",
                        "requested_depth": trial.requested_depth,
                        "actual_depth": bp.actual_depth, "repeat": trial.repeat,
                        "seed": trial.seed, "form": bp.media_form,
                        "prompt_tokens": bp.prompt_tokens, "question": bp.question,
                        "needles": [asdict(n) for n in bp.needles],
                        "messages": bp.messages, "media_at": bp.media_at,
                        "media": [{"path": p.path, "sha256": p.sha256, "mime": p.mime,
                                   "bytes": p.nbytes, "start_s": p.start_s,
                                   "duration_s": p.duration_s, "label": p.label}
                                  for p in bp.media],
                        "prompt_sha256": bp.prompt_sha256,
                    }
                    f.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    except OSError as exc:
        raise StoreError(f"--out: cannot write {out} ({exc.strerror or exc})") from exc
    where = f"; media in {media_dir}" if media_dir is not None else ""
    print(f"wrote {len(trials) * len(builders)} prompts to {out}{where}")
    return 0
