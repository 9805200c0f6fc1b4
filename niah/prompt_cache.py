"""Provider prompt caching: what each request marks, and what it should save.

Every prompt of an experiment starts with the same haystack text up to its first
needle, and the runner sends trials in ``prefix_order`` (first-needle offset,
descending), so each trial's text before its needle was sent before, by the trials
with deeper needles.

**Anthropic** caches only where a request puts ``cache_control`` on a block, at most 4
per request. Each breakpoint writes one entry: the hash of the prefix ending at its
block. A lookup checks the breakpoint and walks back at most 20 blocks for an entry
an earlier request wrote; the highest hit is billed at 0.1x the input price, the
tokens from there to the last breakpoint as a cache write (1.25x for the 5-minute
cache), the rest at the input price. So the user message is cut into text blocks at
fixed positions of the haystack (the word start at or before every
``CACHE_BLOCK_TOKENS`` tokens, the same text in every trial that reaches it), and a
trial marks the last cut before its needle, where it reads what earlier trials
wrote, and the cuts where the trials after it will read: the next one, and those
``run.concurrency`` and twice that later (the ones in flight beside it cannot see its
writes). A trial marks nothing when no later trial reads what it would write, or the
prefix is below the model's minimum cacheable length, so a grid without shared
prefixes costs what it costs uncached.

**OpenAI** caches every prompt of 1024+ tokens by itself (hits in 128-token steps) on
the machine that a hash of its first ~256 tokens and ``prompt_cache_key`` routes it
to, and spills to other machines above ~15 requests a minute per key. niah sends one
key per experiment and context length: each length's trials, in prefix order, share
their whole prefix with the one before, and the load spreads over the lengths.

**Gemini** 2.5 and later cache implicitly: nothing is sent, hits are reported and priced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from niah.backends.base import CacheHint
from niah.backends.registry import prompt_cache_of
from niah.config import Experiment, ModelSpec
from niah.plan import Trial, experiment_fingerprint, plan, prefix_order
from niah.prompt import CACHE_BLOCK_TOKENS, BuiltPrompt

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
"""Positions an Anthropic lookup checks per breakpoint, the breakpoint included."""
OPENAI_STEP = 128
NEEDLE_SLACK = 256
"""Tokens a needle may land before its requested offset (it goes to a sentence start,
and a depth of 100% stops where the corpus prefix gives way to the filler)."""


@dataclass
class _Schedule:
    """The run's trial order and each trial's predicted level (fixed cuts before its
    first needle), for one experiment and model."""

    experiment: Experiment
    order: list[Trial]
    index: dict[str, int]
    fingerprint: str
    levels: list[int] | None = None


_schedules: dict[tuple[int, str], _Schedule] = {}
_KEEP = 8


def _schedule(experiment: Experiment, spec: ModelSpec) -> _Schedule:
    key = (id(experiment), spec.id)
    found = _schedules.get(key)
    if found is None or found.experiment is not experiment:
        while len(_schedules) >= _KEEP:
            del _schedules[next(iter(_schedules))]
        order = prefix_order(plan(experiment))
        found = _schedules[key] = _Schedule(
            experiment, order, {t.trial_id: i for i, t in enumerate(order)},
            experiment_fingerprint(experiment),
        )
    return found


def _haystack_estimate(experiment: Experiment, bp: BuiltPrompt, length: int) -> float:
    """Haystack tokens of a trial of ``length``, from one built prompt's proportions."""
    needles = bp.context_tokens - bp.haystack_tokens
    overhead = bp.prompt_tokens - bp.context_tokens
    target = length - overhead if experiment.grid.length_includes_prompt else length
    return max(0.0, target - needles)


def predicted_level(experiment: Experiment, bp: BuiltPrompt, trial: Trial) -> int:
    """The last fixed cut before ``trial``'s first needle, predicted without building it."""
    first = min(trial.needle_depths) / 100.0 * _haystack_estimate(experiment, bp,
                                                                  trial.context_length)
    return max(0, math.floor((first - NEEDLE_SLACK) / CACHE_BLOCK_TOKENS))


def _levels(schedule: _Schedule, bp: BuiltPrompt) -> list[int]:
    if schedule.levels is None:
        schedule.levels = [predicted_level(schedule.experiment, bp, t) for t in schedule.order]
    return schedule.levels


def _distances(concurrency: int) -> list[int]:
    c = max(1, concurrency)
    return list(dict.fromkeys([1, c, 2 * c, c + 1, 2, 3 * c]))


def marked_levels(levels: Sequence[int], i: int, own: int, concurrency: int,
                  min_blocks: int) -> list[int]:
    """The levels trial ``i`` of ``levels`` (at ``own``) marks, highest first: its own
    (to read what earlier trials wrote) and up to 3 where later trials will read."""
    if own < min_blocks:
        return []
    future: list[int] = []
    for d in _distances(concurrency):
        j = i + d
        if j < len(levels) and min_blocks <= levels[j] < own and levels[j] not in future:
            future.append(levels[j])
        if len(future) == MAX_BREAKPOINTS - 1:
            break
    if not future and i == 0:
        return []  # nobody wrote it and nobody will read it: a write would only cost
    return [own, *sorted(future, reverse=True)]


def cache_hint(experiment: Experiment, spec: ModelSpec, bp: BuiltPrompt) -> CacheHint | None:
    """The prompt-cache marks of one request (None: send it as it is)."""
    if experiment.run.prompt_cache == "off":
        return None
    style, min_tokens = prompt_cache_of(spec)
    if style == "keyed":
        if bp.prompt_tokens < min_tokens:
            return None
        fingerprint = _schedule(experiment, spec).fingerprint
        return CacheHint(key=f"niah-{fingerprint}-{bp.trial.context_length}")
    if style != "breakpoints" or not bp.cache_cuts:
        return None
    schedule = _schedule(experiment, spec)
    i = schedule.index.get(bp.trial.trial_id)
    if i is None:
        return None
    cuts = dict(bp.cache_cuts)
    ks = sorted(cuts)
    own = ks[-1]
    marks = marked_levels(_levels(schedule, bp), i, own, experiment.run.concurrency,
                          math.ceil(min_tokens / CACHE_BLOCK_TOKENS))
    if not marks:
        return None
    # a level this prompt has no cut at (no word start between two cuts) -> the one below
    chosen = sorted({max((k for k in ks if k <= m), default=0) for m in marks} - {0})
    return CacheHint(cuts=tuple(cuts[k] for k in ks),
                     marks=tuple(cuts[k] for k in chosen[-MAX_BREAKPOINTS:]))


def predicted_usage(
    experiment: Experiment, spec: ModelSpec, trials: Sequence[Trial],
    built: Mapping[int, BuiltPrompt],
) -> list[tuple[int, int]] | None:
    """(cache-read, cache-write) prompt tokens of each of ``trials`` (in run order) if
    the provider caches as documented, from one built prompt per length; None when
    niah uses no prompt cache for ``spec``.

    Anthropic is simulated: breakpoints as ``cache_hint`` places them, the first request
    alone (``AnthropicBackend`` holds the others until it answers), then writes seen
    ``run.concurrency`` requests later. OpenAI and Gemini read a prompt's whole prefix
    before its needle when an earlier prompt (of the same key) had it.
    """
    style, min_tokens = prompt_cache_of(spec) if experiment.run.prompt_cache != "off" else (
        None, 0)
    if style is None or not trials:
        return None
    first = {length: bp for length, bp in built.items()}
    any_bp = next(iter(first.values()))
    levels = [predicted_level(experiment, first.get(t.context_length, any_bp), t)
              for t in trials]
    if style != "breakpoints":
        out: list[tuple[int, int]] = []
        groups: set[object] = set()
        for t, level in zip(trials, levels, strict=True):
            group = t.context_length if style == "keyed" else None
            shared = level * CACHE_BLOCK_TOKENS
            step = OPENAI_STEP if style == "keyed" else 1
            hit = shared // step * step if group in groups and shared >= min_tokens else 0
            out.append((hit, 0))
            groups.add(group)
        return out
    c = max(1, experiment.run.concurrency)
    min_blocks = math.ceil(min_tokens / CACHE_BLOCK_TOKENS)
    written: list[list[int]] = []  # the levels each request wrote
    entries: set[int] = set()
    seen = 0  # requests whose writes the next one sees
    out = []
    for i, own in enumerate(levels):
        marks = marked_levels(levels, i, own, c, min_blocks)
        while seen < len(written) and (seen == 0 or seen <= i - c):
            entries.update(written[seen])
            seen += 1
        hit = 0
        for m in marks:
            hit = max((p for p in range(m, m - LOOKBACK_BLOCKS, -1) if p in entries), default=0)
            if hit:
                break
        top = marks[0] if marks else 0
        out.append((hit * CACHE_BLOCK_TOKENS, max(0, top - hit) * CACHE_BLOCK_TOKENS))
        written.append(marks)
    return out
