"""Options shared by commands that take an experiment config."""

from __future__ import annotations

import argparse
from typing import Any

from niah.config import ConfigError, Experiment, load_experiment, parse_override


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
    return load_experiment(args.config, **overrides)
