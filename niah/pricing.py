"""Prices (USD per million tokens) and cost: per row, and estimated before a run.

The built-in table covers common hosted models. Prices are as of 2026-11 and change
often: check your provider, and override any model in the config's ``pricing``
mapping (keyed by model id). Local models (``llamacpp``, ``scripted``) cost 0; any
other model without a known price has cost ``None`` (unknown, not free).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from niah.config import Experiment, ModelSpec, Price
from niah.plan import Trial

if TYPE_CHECKING:
    from niah.prompt import BuiltPrompt

FREE_PROVIDERS = ("llamacpp", "scripted")


@dataclass(frozen=True)
class Tiered:
    """A price, and a higher one for prompts longer than ``above`` tokens."""

    base: Price
    above: int | None = None
    long: Price | None = None

    def for_prompt(self, prompt_tokens: int) -> Price:
        if self.above is not None and self.long is not None and prompt_tokens > self.above:
            return self.long
        return self.base


def _p(i: float, o: float, c: float | None = None) -> Price:
    return Price(input=i, output=o, cached_input=c)


def _claude(i: float, o: float) -> Price:
    """Anthropic's prompt cache: reads at 0.1x the input price, 5-minute writes at 1.25x."""
    return Price(input=i, output=o, cached_input=round(i * 0.1, 6), cache_write=i * 1.25)


BUILTIN: dict[str, dict[str, Tiered]] = {
    "openai": {
        "gpt-4o": Tiered(_p(2.50, 10.00, 1.25)),
        "gpt-4o-mini": Tiered(_p(0.15, 0.60, 0.075)),
        "gpt-4.1": Tiered(_p(2.00, 8.00, 0.50)),
        "gpt-4.1-mini": Tiered(_p(0.40, 1.60, 0.10)),
        "gpt-4.1-nano": Tiered(_p(0.10, 0.40, 0.025)),
        "o3": Tiered(_p(2.00, 8.00, 0.50)),
        "o3-mini": Tiered(_p(1.10, 4.40, 0.55)),
        "o3-pro": Tiered(_p(20.00, 80.00)),
        "o4-mini": Tiered(_p(1.10, 4.40, 0.275)),
    },
    "anthropic": {
        "claude-3-5-sonnet": Tiered(_claude(3.00, 15.00)),
        "claude-3-5-haiku": Tiered(_claude(0.80, 4.00)),
        "claude-3-7-sonnet": Tiered(_claude(3.00, 15.00)),
        "claude-3-haiku": Tiered(_claude(0.25, 1.25)),
        "claude-3-opus": Tiered(_claude(15.00, 75.00)),
        "claude-sonnet-4": Tiered(_claude(3.00, 15.00), 200_000, _claude(6.00, 22.50)),
        "claude-opus-4": Tiered(_claude(15.00, 75.00)),
        "claude-opus-4-5": Tiered(_claude(5.00, 25.00)),
        "claude-haiku-4": Tiered(_claude(1.00, 5.00)),
    },
    "gemini": {
        "gemini-1.5-pro": Tiered(_p(1.25, 5.00, 0.3125), 128_000, _p(2.50, 10.00, 0.625)),
        "gemini-1.5-flash": Tiered(_p(0.075, 0.30, 0.01875), 128_000, _p(0.15, 0.60, 0.0375)),
        "gemini-1.5-flash-8b": Tiered(_p(0.0375, 0.15, 0.01), 128_000, _p(0.075, 0.30, 0.02)),
        "gemini-2.0-flash": Tiered(_p(0.10, 0.40, 0.025)),
        "gemini-2.0-flash-lite": Tiered(_p(0.075, 0.30)),
        "gemini-2.5-pro": Tiered(_p(1.25, 10.00, 0.31), 200_000, _p(2.50, 15.00, 0.625)),
        "gemini-2.5-flash": Tiered(_p(0.30, 2.50, 0.075)),
        "gemini-2.5-flash-lite": Tiered(_p(0.10, 0.40, 0.025)),
    },
}
"""USD per million tokens, as of 2026-11: check your provider. Long-context tiers
apply to the whole request when the prompt exceeds ``above`` tokens."""


def builtin_price(model: ModelSpec) -> Tiered | None:
    """The longest table entry the model name starts with (``gpt-4o-2024-08-06`` ->
    ``gpt-4o``; ``gpt-4o-mini`` never falls back to ``gpt-4o``)."""
    table = BUILTIN.get(model.provider, {})
    name = model.name.lower().removeprefix("models/")
    matches = [k for k in table if name == k or name.startswith(k + "-")]
    return table[max(matches, key=len)] if matches else None


def price_for(
    model: ModelSpec, overrides: dict[str, Price] | None = None, prompt_tokens: int = 0
) -> Price | None:
    """The price of one request: config override, then built-in table, then free/None."""
    if overrides and model.id in overrides:
        return overrides[model.id]
    if model.is_rag:  # a RAG twin pays its answering model's price
        return price_for(model.inner, overrides, prompt_tokens)
    if model.cascade_stage is not None:  # ocr+/asr+: the text model's price (the
        return price_for(model.text_model, overrides, prompt_tokens)  # transcriber: here)
    tiered = builtin_price(model)
    if tiered is not None:
        return tiered.for_prompt(prompt_tokens)
    if model.provider in FREE_PROVIDERS:
        return Price(input=0.0, output=0.0)
    return None


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int,
         cached_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """USD for one request: prompt tokens read from a provider's prompt cache at the
    cached rate, those written to it at the write rate, the rest at the input rate."""
    if price is None:
        return None
    cached = max(0, min(cached_tokens, prompt_tokens))
    written = max(0, min(cache_write_tokens, prompt_tokens - cached))
    read_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    total = ((prompt_tokens - cached - written) * price.input + cached * read_rate
             + written * write_rate)
    return (total + completion_tokens * price.output) / 1e6


def cache_savings(price: Price | None, prompt_tokens: int, cached_tokens: int = 0,
                  cache_write_tokens: int = 0) -> float | None:
    """USD a request saved through the provider's prompt cache (negative when writes
    cost more than reads saved); None without a price."""
    with_cache = cost(price, prompt_tokens, 0, cached_tokens, cache_write_tokens)
    without = cost(price, prompt_tokens, 0)
    return None if with_cache is None or without is None else without - with_cache


def estimated_cost(experiment: Experiment, spec: ModelSpec, prompt_tokens: int) -> float | None:
    """Upper bound of one request's cost: its answer uses all of ``run.max_tokens``."""
    price = price_for(spec, experiment.pricing, prompt_tokens)
    return cost(price, prompt_tokens, experiment.run.max_tokens)


class _Builder(Protocol):
    def build(self, trial: Trial) -> BuiltPrompt: ...


@dataclass(frozen=True)
class Estimate:
    """What a model's share of a run would send, before sending it."""

    model: str
    trials: int
    prompt_tokens: int
    max_output_tokens: int
    """Upper bound: every answer uses all of ``run.max_tokens``."""
    cost_usd: float | None
    """Upper bound at ``max_output_tokens``; None when the model has no known price."""
    cached_cost_usd: float | None = None
    """The same with the provider's prompt cache as ``run.prompt_cache`` uses it, if it
    caches as documented (``niah.prompt_cache.predicted_usage``); None when niah uses no
    prompt cache for the model or its price is unknown."""


def estimate(
    experiment: Experiment, trials: Sequence[Trial], builder: _Builder,
    model: ModelSpec | None = None,
) -> Estimate:
    """Tokens and cost of ``trials`` on one model, sending nothing.

    One prompt is built per context length to measure the template's overhead; every
    other trial of that length is counted as the same size (needle values differ by a
    token or two), so this stays fast on large grids.
    """
    from niah.plan import prefix_order
    from niah.prompt_cache import predicted_usage

    spec = model or getattr(builder, "model", None) or experiment.model[0]
    max_tokens = experiment.run.max_tokens
    built: dict[int, BuiltPrompt] = {}
    prompt_total = 0
    cost_total: float | None = 0.0
    for trial in trials:
        if trial.context_length not in built:
            built[trial.context_length] = builder.build(trial)
        size = built[trial.context_length].prompt_tokens
        prompt_total += size
        one = estimated_cost(experiment, spec, size)
        cost_total = None if one is None or cost_total is None else cost_total + one
    ordered = prefix_order(list(trials))
    usage = predicted_usage(experiment, spec, ordered, built)
    cached_total: float | None = None
    if usage is not None and cost_total is not None:
        cached_total = 0.0
        for trial, (read, written) in zip(ordered, usage, strict=True):
            size = built[trial.context_length].prompt_tokens
            price = price_for(spec, experiment.pricing, size)
            one = cost(price, size, max_tokens, read, written)
            cached_total = None if one is None or cached_total is None else cached_total + one
    return Estimate(
        model=spec.id, trials=len(trials), prompt_tokens=prompt_total,
        max_output_tokens=max_tokens * len(trials), cost_usd=cost_total,
        cached_cost_usd=cached_total,
    )
