"""``niah rescore``: score the stored responses of a run again (the model under test is
never called; ``--scoring judge`` calls only the LLM judge)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from niah.errors import ConfigError
from niah.rescore import BACKUP_SUFFIX, rescore_run, scoring_spec
from niah.results import RESULTS_FILE


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rescore", help="score the stored responses of a run again (no model is called)",
        description="Rescore every answered row of RUN_DIR with the run's scorer or the one "
        "given here; the old results are kept as results.jsonl.bak.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of niah run")
    parser.add_argument("--scoring", choices=("contains", "exact", "regex", "judge"),
                        help="scorer (default: the run's own, from its manifest); judge "
                        "asks an LLM judge again (its replies are cached)")
    parser.add_argument("--pattern", help="regex with {answer} for --scoring regex")
    parser.add_argument("--judge-model", metavar="ID",
                        help="judge model for --scoring judge (default: the run's judge): "
                        "an id, or a YAML mapping like a config's model entry "
                        "('{id: openai-compatible/m, base_url: http://host/v1}')")
    parser.add_argument("--rubric", help="judge rubric: gkamradt, binary or your criteria")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    model = args.judge_model
    if model is not None and model.lstrip().startswith("{"):
        try:
            model = yaml.safe_load(model)
        except yaml.YAMLError:
            raise ConfigError("--judge-model", "is not a valid YAML mapping") from None
    judge = {"model": model, "rubric": args.rubric}
    if args.scoring is None and any(judge.values()):
        args.scoring = "judge"
    spec = scoring_spec(run_dir, args.scoring, args.pattern, judge)
    total, changed = rescore_run(run_dir, spec)
    print(f"rescored {total} rows of {run_dir} with {spec.kind}: {changed} scores changed "
          f"(previous file: {run_dir / (RESULTS_FILE + BACKUP_SUFFIX)})")
    return 0
