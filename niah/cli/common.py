"""Options shared by commands that take an experiment config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from niah.config import Experiment, load_experiment, parse_override
from niah.errors import ConfigError
from niah.fmt import parse_seconds, parse_tokens


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
    parser.add_argument(
        "--lengths", help="context lengths in tokens, e.g. 1K,32K,128K (K = 1000, Ki = 1024)"
    )
    parser.add_argument(
        "--durations", help="media durations (video/audio haystacks), e.g. 30s,1.2m,3h"
    )
    parser.add_argument("--depths", help="depth percents, e.g. 0,50,100")
    parser.add_argument(
        "--model", action="append", metavar="ID", help="model id (repeat for several models)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override any config field by dotted path, e.g. grid.repeats=3",
    )


def _percent(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"expected comma-separated numbers like 0,50,100, got {text.strip()!r}"
        ) from None


def _values(option: str, text: str, parse: Callable[[str], Any]) -> list[Any]:
    """``1K,2K`` -> [1000, 2000]; a bad item is a one-line error naming the option."""
    items = [x for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(option, "no values given")
    try:
        return [parse(x) for x in items]
    except ValueError as exc:
        raise ConfigError(option, str(exc)) from None


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    """Load the config with CLI overrides applied, validated like the file."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, value = parse_override(item)
        overrides[key] = value
    if args.lengths:
        overrides["grid.context_lengths"] = _values("--lengths", args.lengths, parse_tokens)
    if getattr(args, "durations", None):
        overrides["grid.durations"] = _values("--durations", args.durations, parse_seconds)
    if args.depths:
        overrides["grid.depth_percents"] = _values("--depths", args.depths, _percent)
    if args.model:
        overrides["model"] = list(args.model)
    experiment = load_experiment(args.config, **overrides)
    check_models(experiment)
    from niah.tasks.registry import check_task  # tokenizers: only for commands that build

    check_task(experiment)
    return experiment


def check_models(experiment: Experiment) -> None:
    """Refuse an unknown provider, a bad backend option or a temperature a model rejects
    before any work, not when the first request is due (``model[1].options.n_ctx: ...``)."""
    from niah.backends import registry  # scans entry points: only when needed

    known = registry.providers()
    for i, model in enumerate(experiment.model):
        if not registry.is_known(model.provider):
            provider = model.provider.rpartition("+")[2]
            raise ConfigError(
                f"model[{i}].id", f"unknown provider {provider!r}; known: {', '.join(known)}"
            )
        try:
            registry.check_model(model, experiment.run)
        except ConfigError as exc:
            if not exc.path.startswith("model."):
                raise
            raise ConfigError(f"model[{i}]{exc.path.removeprefix('model')}", exc.message) from None
    judge = experiment.scoring.model  # the LLM judge (issue 14): checked like any model
    if judge is not None:
        if judge.provider not in known:
            raise ConfigError("scoring.model.id", f"unknown provider {judge.provider!r}; "
                                                  f"known: {', '.join(known)}")
        try:
            registry.check_model(judge, experiment.run)
        except ConfigError as exc:
            path = exc.path.removeprefix("model") if exc.path.startswith("model.") else ""
            raise ConfigError(f"scoring.model{path}", exc.message) from None
