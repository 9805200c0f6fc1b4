"""Options shared by commands that take an experiment config."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console

from niah.config import Experiment, load_experiment, parse_override
from niah.errors import ConfigError


def console(stderr: bool = False) -> Console:
    """A rich console that prints text as given (model ids may hold "[") and, when
    piped, lays tables out 120 columns wide instead of rich's 80."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream, markup=False, highlight=False,
        width=None if stream.isatty() else 120,
    )


def one_line(text: object) -> str:
    """A message as one line, whatever a library or a server put in it."""
    return " ".join(str(text).split())


def add_experiment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML file")
    parser.add_argument("--lengths", help="context lengths, e.g. 1000,2000,4000")
    parser.add_argument("--depths", help="depth percents, e.g. 0,50,100")
    parser.add_argument(
        "--model", action="append", metavar="ID", help="model id (repeat for several models)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override any config field by dotted path, e.g. grid.repeats=3",
    )


def _numbers(option: str, text: str, kind: type) -> list[Any]:
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(option, f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError(option, "no values given")
    return values


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    """Load the config with CLI overrides applied, validated like the file."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, value = parse_override(item)
        overrides[key] = value
    if args.lengths:
        overrides["grid.context_lengths"] = _numbers("--lengths", args.lengths, int)
    if args.depths:
        overrides["grid.depth_percents"] = _numbers("--depths", args.depths, float)
    if args.model:
        overrides["model"] = list(args.model)
    experiment = load_experiment(args.config, **overrides)
    check_models(experiment)
    return experiment


def check_models(experiment: Experiment) -> None:
    """Refuse an unknown provider, a bad backend option or a temperature a model rejects
    before any work, not when the first request is due (``model[1].options.n_ctx: ...``)."""
    from niah.backends import registry  # scans entry points: only when needed

    known = registry.providers()
    for i, model in enumerate(experiment.model):
        if model.provider not in known:
            raise ConfigError(
                f"model[{i}].id", f"unknown provider {model.provider!r}; known: {', '.join(known)}"
            )
        try:
            registry.check_model(model, experiment.run)
        except ConfigError as exc:
            if not exc.path.startswith("model."):
                raise
            raise ConfigError(f"model[{i}]{exc.path.removeprefix('model')}", exc.message) from None
